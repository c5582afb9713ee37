import type { RedisConnection } from '../redis/connection.ts';
import type { Logger } from 'pino';
import { ScenarioError, ScenarioTimeoutError } from '../errors.ts';
import type { Inflight } from './inflight.ts';

/** A message on the control channel; published by the engine scripts and the CLI. */
export interface ControlMessage {
  type: 'abort';
  runId: string;
  steps?: string[];
  reason: string;
  message?: string;
}

/** The error an aborted attempt sees for each abort reason. */
export function abortError(msg: ControlMessage): Error {
  if (msg.reason === 'run_timeout') return new ScenarioTimeoutError('run', 0);
  if (msg.reason === 'group_timeout') return new ScenarioTimeoutError('group', 0);
  const kind = msg.reason === 'halted' ? 'halted' : 'cancelled';
  return new ScenarioError(kind, msg.message ?? msg.reason);
}

/**
 * Subscribes to the control channel and aborts matching in-flight attempts. Their results
 * are discarded by the scripts, which already recorded the step's end.
 */
export async function subscribeControl(subscriber: RedisConnection, channel: string, inflight: Inflight, log: Logger): Promise<() => Promise<void>> {
  subscriber.on('message', (_channel: string, raw: string) => {
    try {
      const msg = JSON.parse(raw) as ControlMessage;
      if (msg.type !== 'abort') return;
      const n = inflight.abort(msg.runId, abortError(msg), msg.steps);
      if (n > 0) log.info({ runId: msg.runId, reason: msg.reason, aborted: n }, 'attempts aborted');
    } catch (err) {
      log.warn({ err }, 'bad control message');
    }
  });
  await subscriber.subscribe(channel);
  return async () => {
    await subscriber.unsubscribe(channel).catch(() => {});
  };
}
