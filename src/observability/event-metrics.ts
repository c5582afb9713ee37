/**
 * Feeds the event-derived metrics from the global event stream (SPEC §14) through one Redis
 * consumer group that every metrics-serving process joins: each event is delivered to exactly
 * one of them, so the sum over all scraped processes counts every run, step, retry, breaker
 * transition, budget refusal and reaper action once, whoever committed it (a worker, the API,
 * a CLI cancelling a run, the guardrails, the reaper).
 */
import type { Logger } from 'pino';
import { duplicateConnection, type RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { parseEvent } from '../engine/events.ts';
import { TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES, type ScenarioEvent } from '../engine/types.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import type { CircuitState, Metrics } from './metrics.ts';

export const METRICS_GROUP = 'sq-metrics';
const BATCH = 200;
const BLOCK_MS = 2_000;
/** Events a consumer took but never acknowledged (it died) are taken over after this long. */
const CLAIM_IDLE_MS = 60_000;
const MAINTENANCE_MS = 30_000;
/** Consumers idle this long with nothing pending are removed from the group. */
const FORGET_IDLE_MS = 3_600_000;

const CIRCUIT_TO: Record<string, CircuitState> = { 'circuit.opened': 'open', 'circuit.half_open': 'half_open', 'circuit.closed': 'closed' };

interface RunLabels {
  scenario: string;
  steps: Map<string, { handler: string; service?: string }>;
}

type StreamEntries = [id: string, fields: string[]][];

export interface EventMetricsOptions {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly metrics: Metrics;
  /** This process's consumer name (the worker id, or `api-<host>-<pid>`). */
  readonly consumer: string;
  readonly log: Logger;
}

/** Creates the group if needed (from now on: history before the first metrics process is not replayed). */
async function ensureGroup(redis: RedisConnection, stream: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, METRICS_GROUP, '$', 'MKSTREAM');
  } catch (e) {
    if (!(e instanceof Error && e.message.startsWith('BUSYGROUP'))) throw e;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Starts reading; `stop()` acknowledges what was read, leaves the group and closes the connection. */
export async function startEventMetrics(options: EventMetricsOptions): Promise<{ stop(): Promise<void> }> {
  const { redis, keys, metrics, consumer, log } = options;
  const stream = keys.globalEvents;
  const reader = duplicateConnection(redis);
  const labels = new Map<string, Promise<RunLabels>>();
  await ensureGroup(redis, stream);

  async function runLabels(runId: string): Promise<RunLabels> {
    let entry = labels.get(runId);
    if (!entry) {
      entry = redis.hmget(keys.run(runId), 'scenario', 'def').then(([scenario, def]) => {
        const steps = new Map<string, { handler: string; service?: string }>();
        if (def) for (const s of (JSON.parse(def) as ScenarioDef).steps) steps.set(s.id, { handler: s.uses, service: s.service });
        return { scenario: scenario ?? 'unknown', steps };
      });
      labels.set(runId, entry);
      entry.catch(() => labels.delete(runId));
      if (labels.size > 500) labels.delete(labels.keys().next().value as string);
    }
    return entry;
  }

  async function count(event: ScenarioEvent): Promise<void> {
    const [family, what] = event.type.split('.') as [string, string];
    const runId = event.runId;
    if (family === 'run' && runId && TERMINAL_RUN_STATUSES.includes(what as never)) {
      const [startedAt, createdAt] = await redis.hmget(keys.run(runId), 'startedAt', 'createdAt');
      const since = Number(startedAt ?? createdAt ?? NaN);
      metrics.runEnded((await runLabels(runId)).scenario, what, event.ts - since);
      if (what === 'skipped' && str(event.data.reason)?.includes('credentials')) metrics.credentialGate('skip');
      labels.delete(runId);
      return;
    }
    if (family === 'step' && runId && event.stepId) {
      const isEnd = TERMINAL_STEP_STATUSES.includes(what as never);
      if (!isEnd && what !== 'retrying') return;
      const step = (await runLabels(runId)).steps.get(event.stepId);
      const handler = step?.handler ?? 'unknown';
      if (what === 'retrying') {
        metrics.stepRetried(handler, step?.service, str(event.data.kind) ?? 'unknown');
        return;
      }
      if (event.data.reason === 'credentials_missing' && what === 'skipped') metrics.credentialGate('skip');
      if (event.data.kind === 'credentials_missing' && what === 'failed') metrics.credentialGate('fail');
      // When the step first started: t0, written once a retry or a takeover moved ts; else ts.
      const [first, latest] = await redis.hmget(keys.runSteps(runId), `t0|${event.stepId}`, `ts|${event.stepId}`);
      const t0 = first ?? latest;
      metrics.stepEnded(handler, step?.service, what, t0 ? event.ts - Number(t0) : undefined);
      return;
    }
    if (family === 'circuit' && CIRCUIT_TO[event.type]) {
      metrics.circuitTransition(str(event.data.service) ?? 'unknown', CIRCUIT_TO[event.type]);
      return;
    }
    if (event.type === 'budget.exceeded' || event.type === 'budget.warning') {
      const action = str(event.data.action) ?? (event.type === 'budget.warning' ? 'warn' : 'fail');
      metrics.budgetExceeded(str(event.data.scope) ?? 'unknown', str(event.data.resource) ?? 'unknown', action);
      return;
    }
    if (event.type === 'recovery.action') {
      const n = typeof event.data.count === 'number' ? event.data.count : 1;
      metrics.recoveryAction(str(event.data.action) ?? 'unknown', n);
    }
  }

  async function handle(entries: StreamEntries): Promise<void> {
    if (entries.length === 0) return;
    for (const [id, fields] of entries) {
      // Entries trimmed from the capped stream come back from XAUTOCLAIM without fields.
      if (!fields) continue;
      try {
        await count(parseEvent(id, fields));
      } catch (err) {
        log.warn({ err, eventId: id }, 'event not counted in metrics');
      }
    }
    await redis.xack(stream, METRICS_GROUP, ...entries.map(([id]) => id));
  }

  async function maintain(): Promise<void> {
    const claimed = (await redis.xautoclaim(stream, METRICS_GROUP, consumer, CLAIM_IDLE_MS, '0', 'COUNT', BATCH)) as [string, StreamEntries];
    await handle(claimed[1] ?? []);
    const consumers = (await redis.xinfo('CONSUMERS', stream, METRICS_GROUP)) as unknown[][];
    for (const row of consumers) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i < row.length; i += 2) info[String(row[i])] = row[i + 1];
      if (info.name !== consumer && Number(info.pending) === 0 && Number(info.idle) > FORGET_IDLE_MS) {
        await redis.xgroup('DELCONSUMER', stream, METRICS_GROUP, String(info.name));
      }
    }
  }

  let stopping = false;
  const loop = (async () => {
    let lastMaintenance = 0;
    while (!stopping) {
      try {
        if (Date.now() - lastMaintenance > MAINTENANCE_MS) {
          lastMaintenance = Date.now();
          await maintain();
        }
        const res = (await reader.xreadgroup('GROUP', METRICS_GROUP, consumer, 'COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', stream, '>')) as [string, StreamEntries][] | null;
        await handle(res?.[0]?.[1] ?? []);
      } catch (err) {
        if (stopping) break;
        if (err instanceof Error && err.message.startsWith('NOGROUP')) await ensureGroup(redis, stream).catch(() => {});
        log.debug({ err }, 'event metrics read failed; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  })();

  return {
    async stop() {
      stopping = true;
      // Wakes the blocked read; what it already delivered is in the PEL and handled by maintain() elsewhere.
      reader.disconnect();
      await loop;
      const pending = (await redis.xpending(stream, METRICS_GROUP, 'IDLE', 0, '-', '+', 1, consumer).catch(() => [])) as unknown[];
      if (pending.length === 0) await redis.xgroup('DELCONSUMER', stream, METRICS_GROUP, consumer).catch(() => {});
    },
  };
}
