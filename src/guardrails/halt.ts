/**
 * Kill switch (SPEC §11). The flag lives in one Redis hash that the admission script reads
 * on every attempt, so no attempt starts after `halt` returns, on any worker. Runs end
 * `halted` once their in-flight attempts finish (`haltRun` in mode idle, tried by the CLI
 * at once and by workers whenever a halted run's job comes back), or at once with
 * `--abort-running` (mode abort: running attempts are aborted over the control channel).
 */
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { runScript } from '../redis/scripts.ts';
import { ScenarioError } from '../errors.ts';
import type { RunStore, TransitionResult } from '../engine/store.ts';
import type { ScenarioEvent } from '../engine/types.ts';
import { GLOBAL_EVENTS_CAP } from '../engine/events.ts';
import { parseGuardEvents } from './events.ts';

/** What `halt` stored. */
export interface HaltInfo {
  reason: string;
  at: number;
  scenario?: string;
  abortRunning?: boolean;
  /** Set when a daily budget with `onExceed: halt` pulled the switch. */
  auto?: boolean;
}

export interface HaltOptions {
  /** Halt only this scenario; the whole cluster when absent. */
  readonly scenario?: string;
  readonly reason: string;
  /** Abort in-flight attempts now instead of letting them finish. */
  readonly abortRunning?: boolean;
}

/** The halt in force for `scenario` (global first), if any. */
export async function readHalt(redis: RedisConnection, keys: Keys, scenario?: string): Promise<HaltInfo | undefined> {
  const [global, own] = await redis.hmget(keys.guard.halt, '*', scenario ? `scenario:${scenario}` : '*');
  const raw = global ?? own;
  return raw ? (JSON.parse(raw) as HaltInfo) : undefined;
}

/** Every halt in force: global under `*`, per scenario under its name. */
export async function listHalts(redis: RedisConnection, keys: Keys): Promise<Record<string, HaltInfo>> {
  const all = await redis.hgetall(keys.guard.halt);
  return Object.fromEntries(Object.entries(all).map(([field, raw]) => [field.replace(/^scenario:/, ''), JSON.parse(raw) as HaltInfo]));
}

/** Thrown by enqueue while halted: the message carries the reason. */
export function haltedError(halt: HaltInfo): ScenarioError {
  const scope = halt.scenario ? `scenario "${halt.scenario}" is` : 'scenario-queue is';
  return new ScenarioError('halted', `refused: ${scope} halted since ${new Date(halt.at).toISOString()}: ${halt.reason} (lift with: scenario-queue unhalt${halt.scenario ? ` --scenario ${halt.scenario}` : ''})`, {
    details: { halt },
  });
}

/**
 * Ends one run `halted` if it is over for the kill switch: in mode idle only when none of its
 * steps is running (besides `heldStep`, whose job the caller holds).
 */
export function haltRun(store: RunStore, runId: string, options: { message: string; scenario?: string; mode: 'idle' | 'abort'; heldStep?: string }): Promise<TransitionResult> {
  return store.script('haltRun', runId, [options.message, options.scenario ?? '', options.mode, options.heldStep ?? '']);
}

/** Tries `haltRun` on every active run; returns how many ended. */
export async function sweepHaltedRuns(redis: RedisConnection, keys: Keys, store: RunStore, options: { message: string; scenario?: string; mode: 'idle' | 'abort' }): Promise<number> {
  const runIds = await redis.zrange(keys.activeRuns, 0, -1);
  let ended = 0;
  for (const runId of runIds) {
    const result = await haltRun(store, runId, options);
    if (result.code === 1) ended++;
  }
  return ended;
}

/** Pulls the kill switch and ends what can end now; returns the halt.on event. */
export async function halt(redis: RedisConnection, keys: Keys, store: RunStore, options: HaltOptions): Promise<{ events: ScenarioEvent[]; ended: number }> {
  const raw = (await runScript(redis, 'setHalt', [keys.guard.halt, keys.globalEvents], [
    'on',
    options.scenario ?? '',
    options.reason,
    options.abortRunning ? '1' : '0',
    keys.control,
    GLOBAL_EVENTS_CAP,
  ])) as [number, string[]];
  const ended = await sweepHaltedRuns(redis, keys, store, {
    message: `halted: ${options.reason}`,
    scenario: options.scenario,
    mode: options.abortRunning ? 'abort' : 'idle',
  });
  return { events: parseGuardEvents(raw[1]), ended };
}

/** Lifts the halt of `scenario`, or every halt when absent; false when none was in force. */
export async function unhalt(redis: RedisConnection, keys: Keys, options: { scenario?: string } = {}): Promise<boolean> {
  const raw = (await runScript(redis, 'setHalt', [keys.guard.halt, keys.globalEvents], ['off', options.scenario ?? '', '', '0', keys.control, GLOBAL_EVENTS_CAP])) as [
    number,
    string[],
  ];
  return raw[0] === 1;
}
