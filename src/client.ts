import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { connectRedis, duplicateConnection, type RedisConnection, redactUrl } from './redis/connection.ts';
import { createKeys, STEP_QUEUE, type Keys } from './redis/keys.ts';
import { createRunStore } from './engine/store.ts';
import { compileScenario } from './scenario/compile.ts';
import { closeDeadlineQueue, enqueueSteps, scheduleDeadline, stepHints } from './engine/jobs.ts';
import { readRun, summarize } from './engine/summary.ts';
import { parseEvent } from './engine/events.ts';
import { TERMINAL_RUN_STATUSES, type RunSummary, type ScenarioEvent } from './engine/types.ts';
import { liveWorkers, LIVE_WINDOW_MS, type WorkerInfo } from './worker/heartbeat.ts';
import type { ScenarioDef } from './scenario/types.ts';
import { validateScenario } from './scenario/load.ts';
import { applyAfterCreate, checkBeforeEnqueue, type GuardEnqueueOptions } from './guardrails/enqueue.ts';

export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const DEFAULT_RETENTION_MS = 7 * 24 * 3_600_000;

export interface ClientOptions {
  readonly redisUrl?: string;
  /** An open connection to use instead of `redisUrl`; the caller closes it. */
  readonly connection?: RedisConnection;
  /** @default 'sq' */
  readonly prefix?: string;
}

/** Guardrail options (budgets, suite budget, --record) come from GuardEnqueueOptions. */
export interface EnqueueOptions extends GuardEnqueueOptions {
  /** Overrides the scenario's `input` defaults key by key. */
  readonly input?: Record<string, unknown>;
  readonly runId?: string;
  /** Overrides the scenario's whole-run `timeoutMs`. */
  readonly timeoutMs?: number;
  readonly suite?: string;
  readonly mock?: boolean;
  /** How long a finished run's state is kept in Redis. @default 7 days */
  readonly retentionMs?: number;
  /** Resume (SPEC §12): steps that start `reused` with these outputs (JSON), from run `fromRunId`. */
  readonly resume?: { readonly fromRunId: string; readonly reused: ReadonlyMap<string, string> };
}

/** Why a waiting CLI sees no progress (SPEC §15 triage hint). */
export interface IdleHint {
  liveWorkers: number;
  queueDepth: number;
  redisUrl: string;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
  /** Every event of the run, in order, from the first. */
  readonly onEvent?: (event: ScenarioEvent) => void;
  /** Called when no live worker has sent a heartbeat for 30 s. */
  readonly onIdle?: (hint: IdleHint) => void;
}

export interface ScenarioClient {
  readonly keys: Keys;
  readonly redis: RedisConnection;
  enqueue(scenario: ScenarioDef, options?: EnqueueOptions): Promise<{ runId: string }>;
  status(runId: string): Promise<RunSummary | undefined>;
  /** Resolves with the summary once the run is over; reattaches after Redis outages. */
  wait(runId: string, options?: WaitOptions): Promise<RunSummary>;
  /** The run's events from the first; with `follow`, keeps going until the run ends. */
  events(runId: string, options?: { follow?: boolean; signal?: AbortSignal; fromId?: string }): AsyncGenerator<ScenarioEvent>;
  cancel(runId: string, reason?: string): Promise<boolean>;
  liveWorkers(): Promise<WorkerInfo[]>;
  queueDepth(): Promise<number>;
  close(): Promise<void>;
}

/** A readable, URL-safe, unique run id: scenario name, time, randomness. */
export function newRunId(scenario: string): string {
  return `${scenario}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects to Redis and returns the typed client of SPEC §19. */
export async function createClient(options: ClientOptions = {}): Promise<ScenarioClient> {
  const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const redis = options.connection ?? (await connectRedis(redisUrl, { connectionName: 'sq-client' }));
  const prefix = options.prefix ?? 'sq';
  const keys = createKeys(prefix);
  const store = createRunStore(redis, keys);
  const queue = new Queue(STEP_QUEUE, { connection: redis, prefix });
  // Without a listener BullMQ prints every connection error; calls fail or wait on their own.
  queue.on('error', () => {});
  const readers = new Set<RedisConnection>();

  async function status(runId: string) {
    const snapshot = await readRun(redis, keys, runId);
    return snapshot && summarize(runId, snapshot);
  }

  async function queueDepth() {
    const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async function* events(runId: string, opts: { follow?: boolean; signal?: AbortSignal; fromId?: string } = {}) {
    const reader = duplicateConnection(redis);
    readers.add(reader);
    let last = opts.fromId ?? '0';
    try {
      for (;;) {
        opts.signal?.throwIfAborted();
        let res: [string, [string, string[]][]][] | null;
        try {
          res = (await reader.xread('COUNT', 500, 'BLOCK', opts.follow ? 1000 : 1, 'STREAMS', keys.runEvents(runId), last)) as typeof res;
        } catch (e) {
          if (opts.signal?.aborted) throw e;
          await sleep(500);
          continue;
        }
        const entries = res?.[0]?.[1] ?? [];
        let ended = false;
        for (const [id, fields] of entries) {
          last = id;
          const event = parseEvent(id, fields);
          yield event;
          if (event.type.startsWith('run.') && TERMINAL_RUN_STATUSES.includes(event.type.slice(4) as never)) ended = true;
        }
        if (ended || (!opts.follow && entries.length === 0)) return;
      }
    } finally {
      readers.delete(reader);
      reader.disconnect();
    }
  }

  async function wait(runId: string, opts: WaitOptions = {}): Promise<RunSummary> {
    const first = await status(runId);
    if (!first) throw new Error(`run ${runId} not found`);
    const [deadlineRaw, timeoutRaw] = await redis.hmget(keys.run(runId), 'deadline', 'timeoutMs');
    const deadline = Number(deadlineRaw);
    let lastLivenessCheck = Date.now();
    let hinted = false;
    const ac = new AbortController();
    const onAbort = () => ac.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const housekeeping = setInterval(async () => {
      try {
        const now = Date.now();
        if (now - lastLivenessCheck >= LIVE_WINDOW_MS && !hinted) {
          lastLivenessCheck = now;
          const live = await liveWorkers(redis, keys);
          if (live.length === 0) {
            hinted = true;
            opts.onIdle?.({ liveWorkers: 0, queueDepth: await queueDepth(), redisUrl: redactUrl(redisUrl) });
          }
        }
        // No worker to run the deadline job: the waiter ends the run itself, naming the cause.
        if (now > deadline + 2_000) {
          const live = await liveWorkers(redis, keys);
          const cause = live.length === 0 ? '; no live workers were connected' : '';
          await store.endRun(runId, 'timed_out', `run timed out after ${timeoutRaw}ms (run timeoutMs)${cause}`);
        }
      } catch {
        // Redis may be down; the event loop below reattaches when it is back.
      }
    }, 1_000);
    try {
      for await (const event of events(runId, { follow: true, signal: ac.signal })) opts.onEvent?.(event);
      for (;;) {
        const summary = await status(runId);
        if (summary && TERMINAL_RUN_STATUSES.includes(summary.status)) return summary;
        await sleep(100);
      }
    } finally {
      clearInterval(housekeeping);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  return {
    keys,
    redis,
    async enqueue(scenario, opts = {}) {
      const runId = opts.runId ?? newRunId(scenario.name);
      if (!RUN_ID_PATTERN.test(runId)) throw new Error(`runId "${runId}" must match ${RUN_ID_PATTERN}`);
      // Validated here too (SPEC §2): library callers may hand in a hand-built definition.
      const def: ScenarioDef = validateScenario({ ...scenario, timeoutMs: opts.timeoutMs ?? scenario.timeoutMs });
      const input = { ...scenario.input, ...opts.input };
      const compiled = compileScenario(def);
      // Refuses while halted; decides credential gates from the live workers.
      const guard = await checkBeforeEnqueue(redis, keys, def, opts);
      const now = Date.now();
      const meta: Record<string, string | number> = {
        scenario: def.name,
        status: 'queued',
        createdAt: now,
        deadline: now + def.timeoutMs,
        timeoutMs: def.timeoutMs,
        failFast: def.failFast ? 1 : 0,
        maxParallel: def.maxParallel,
        open: def.steps.length,
        inflight: 0,
        failed: 0,
        def: JSON.stringify(def),
        input: JSON.stringify(input),
        mock: opts.mock ? 1 : 0,
        retentionMs: opts.retentionMs ?? DEFAULT_RETENTION_MS,
        ...(opts.suite ? { suite: opts.suite } : {}),
        ...(opts.resume ? { resumedFrom: opts.resume.fromRunId } : {}),
        ...guard.meta,
      };
      const result = await store.createRun(runId, def, compiled.dependents, meta, opts.resume?.reused);
      if (result.code === -1) throw new Error(`run ${runId} already exists`);
      const ttlMs = def.timeoutMs + (opts.retentionMs ?? DEFAULT_RETENTION_MS);
      await enqueueSteps(queue, runId, await applyAfterCreate(redis, keys, store, { runId, def, ttlMs }, opts, guard.gates, result), stepHints(def));
      await scheduleDeadline(queue, { runId }, def.timeoutMs);
      return { runId };
    },
    status,
    wait,
    events,
    async cancel(runId, reason) {
      const result = await store.endRun(runId, 'cancelled', reason ?? 'cancelled by user');
      return result.code === 1;
    },
    liveWorkers: () => liveWorkers(redis, keys),
    queueDepth,
    async close() {
      for (const r of readers) r.disconnect();
      await closeDeadlineQueue(queue).catch(() => {});
      await queue.close().catch(() => {});
      if (!options.connection) redis.disconnect();
    },
  };
}
