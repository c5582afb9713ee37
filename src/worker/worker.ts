import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { connectRedis, duplicateConnection, type RedisConnection } from '../redis/connection.ts';
import { createKeys, STEP_QUEUE } from '../redis/keys.ts';
import { createRunStore } from '../engine/store.ts';
import { JOB_NAMES, type DeadlineJobData, type StepJobData } from '../engine/jobs.ts';
import { createListeners, type EventListener } from '../engine/listeners.ts';
import type { EventType } from '../engine/types.ts';
import { createHandlerRegistry } from '../handlers/registry.ts';
import type { HandlerDefinition } from '../handlers/types.ts';
import { createLogger } from '../observability/logger.ts';
import { createInflight } from './inflight.ts';
import { createRunCache } from './run-cache.ts';
import { subscribeControl } from './control.ts';
import { startHeartbeat } from './heartbeat.ts';
import { OPEN_GUARD, type AttemptGuard } from './guard.ts';
import { startWorkerGuardrails } from '../guardrails/worker-guardrails.ts';
import { heldCredentialNames } from '../guardrails/credentials.ts';
import type { WorkerObserver } from './observer.ts';
import { createStepProcessor, enforceDeadline, SHUTDOWN_REASON, type StepProcessorDeps } from './process-step.ts';

export interface WorkerOptions {
  readonly redisUrl?: string;
  /** An open connection to use instead of `redisUrl`; the caller closes it. */
  readonly connection?: RedisConnection;
  /** @default 'sq' */
  readonly prefix?: string;
  /** Step attempts in flight at once in this process. @default 8 */
  readonly concurrency?: number;
  readonly handlers?: readonly HandlerDefinition[];
  readonly logger?: Logger;
  readonly workerId?: string;
  /** How long a job lock lives without renewal; a dead worker's job restarts after it. @default 10000 */
  readonly lockDurationMs?: number;
  /** @default 5000 */
  readonly stalledIntervalMs?: number;
  /** In-flight attempts get this long to finish on close before they are given back. @default 30000 */
  readonly shutdownGraceMs?: number;
  /** Guardrails consulted around every attempt. @default OPEN_GUARD (none) */
  readonly guard?: AttemptGuard;
  /** Sees every attempt and stalled job (metrics). */
  readonly observer?: WorkerObserver;
}

export interface ScenarioWorker {
  readonly workerId: string;
  /** Subscribes to an event type (or '*'); listeners never block or break execution. */
  on(type: EventType | '*', fn: EventListener): () => void;
  /** Number of attempts running now. */
  readonly inflight: number;
  /** Drains: stops taking jobs, waits up to the grace, then gives running attempts back. */
  close(): Promise<void>;
}

/** A unique, readable worker id: host, pid and a random suffix. */
export function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Starts a worker that executes step jobs until closed. */
export async function createWorker(options: WorkerOptions = {}): Promise<ScenarioWorker> {
  const workerId = options.workerId ?? newWorkerId();
  const log = (options.logger ?? createLogger()).child({ workerId });
  const prefix = options.prefix ?? 'sq';
  const keys = createKeys(prefix);
  const redis = options.connection ?? (await connectRedis(options.redisUrl ?? 'redis://127.0.0.1:6379', { connectionName: `sq-worker-${workerId}` }));
  const subscriber = duplicateConnection(redis);
  const bullConnection = duplicateConnection(redis);
  const registry = createHandlerRegistry(options.handlers ?? []);
  const listeners = createListeners(log);
  const inflight = createInflight();
  const store = createRunStore(redis, keys, { workerId });
  const queue = new Queue(STEP_QUEUE, { connection: redis, prefix });
  const concurrency = options.concurrency ?? 8;
  // Guardrails run by default; a guard passed in (tests, embedding) replaces them.
  const guardrails = options.guard
    ? undefined
    : await startWorkerGuardrails({ redis, keys, store, registry, workerId, leaseMs: options.lockDurationMs ?? 10_000, log, onEvent: (e) => listeners.emit(e) });

  const deps: StepProcessorDeps = {
    redis,
    keys,
    store,
    queue,
    runs: createRunCache(redis, keys),
    registry,
    inflight,
    guard: guardrails?.guard ?? options.guard ?? OPEN_GUARD,
    observer: options.observer,
    log,
    workerId,
    onTransition(runId, result) {
      if (listeners.size === 0) return;
      const ts = Date.now();
      for (const e of result.emitted) listeners.emit({ type: e.type, ts, runId, stepId: e.stepId, attempt: e.attempt, workerId, data: {} });
    },
  };
  const processStep = createStepProcessor(deps);

  async function processDeadline(job: Job<DeadlineJobData>): Promise<void> {
    const run = await deps.runs.get(job.data.runId);
    if (run) await enforceDeadline(deps, run, job.data.group);
  }

  const stopControl = await subscribeControl(subscriber, keys.control, inflight, log);
  const worker = new Worker(
    STEP_QUEUE,
    async (job: Job, token?: string) => {
      if (job.name === JOB_NAMES.step) return processStep(job as Job<StepJobData>, token);
      if (job.name === JOB_NAMES.runDeadline || job.name === JOB_NAMES.groupDeadline) return processDeadline(job as Job<DeadlineJobData>);
      log.warn({ jobName: job.name, jobId: job.id }, 'unknown job name');
    },
    {
      connection: bullConnection,
      prefix,
      concurrency,
      lockDuration: options.lockDurationMs ?? 10_000,
      stalledInterval: options.stalledIntervalMs ?? 5_000,
      maxStalledCount: 3,
      autorun: true,
    },
  );
  worker.on('error', (err) => log.warn({ err }, 'bullmq worker error'));
  if (options.observer) worker.on('stalled', () => options.observer?.jobStalled(STEP_QUEUE));
  worker.on('failed', (job, err) => {
    if (job) log.warn({ jobId: job.id, err: err.message }, 'job failed in bullmq');
  });
  await worker.waitUntilReady();

  const startedAt = Date.now();
  const credentialNames = heldCredentialNames();
  const heartbeat = startHeartbeat(redis, keys, () => ({
    workerId,
    concurrency,
    startedAt,
    handlers: registry.names(),
    credentials: credentialNames,
    inflight: inflight.count,
  }));
  await heartbeat.first;
  log.info({ concurrency, prefix, handlers: registry.names() }, 'worker ready');

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    const grace = options.shutdownGraceMs ?? 30_000;
    const drained = worker.close();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((resolve) => {
      timer = setTimeout(() => resolve('grace'), grace);
    });
    if ((await Promise.race([drained.then(() => 'drained' as const), graceOver])) === 'grace') {
      const n = inflight.abortAll(SHUTDOWN_REASON);
      log.warn({ aborted: n, graceMs: grace }, 'shutdown grace over: giving running attempts back');
      await Promise.race([drained, new Promise((r) => setTimeout(r, 5_000))]);
      await worker.close(true).catch(() => {});
    }
    clearTimeout(timer);
    await heartbeat.stop(workerId);
    await stopControl();
    await guardrails?.stop();
    await queue.close().catch(() => {});
    subscriber.disconnect();
    bullConnection.disconnect();
    if (!options.connection) redis.disconnect();
    log.info('worker stopped');
  }

  return {
    workerId,
    on: listeners.on,
    get inflight() {
      return inflight.count;
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
}
