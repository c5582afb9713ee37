import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { connectRedis, duplicateConnection, type RedisConnection } from '../redis/connection.ts';
import { createKeys, DEADLINE_QUEUE, STEP_QUEUE } from '../redis/keys.ts';
import { createRunStore } from '../engine/store.ts';
import { JOB_NAMES, KEEP_JOBS, closeDeadlineQueue, deadlineQueueOf, isStepJobName, stepJobData, type DeadlineJobData, type StepJobData } from '../engine/jobs.ts';
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
import { guardrailReclaimers } from '../guardrails/reclaim.ts';
import type { WorkerObserver } from './observer.ts';
import { fuseCompletion } from './fused-completion.ts';
import { libraryReclaimer } from '../recovery/libraries.ts';
import { createStepProcessor, enforceDeadline, SHUTDOWN_REASON, type StepProcessorDeps } from './process-step.ts';
import { startReaper } from '../recovery/scheduler.ts';
import type { Reclaimer } from '../recovery/reclaim.ts';
import { DEFAULT_LOCK_DURATION_MS, DEFAULT_STALLED_INTERVAL_MS, RUN_RETRY_DELAY_MS, SHUTDOWN_CLEANUP_MS, SHUTDOWN_GIVE_BACK_MS, settlesWithin } from './shutdown.ts';

/** Deadline jobs processed at once per worker: each is a script or two, and they are rare. */
const DEADLINE_CONCURRENCY = 2;

export interface WorkerOptions {
  readonly redisUrl?: string;
  /** An open connection to use instead of `redisUrl`; the caller closes it. */
  readonly connection?: RedisConnection;
  /** @default 'sq' */
  readonly prefix?: string;
  /** Step attempts in flight at once in this process. @default 8 */
  readonly concurrency?: number;
  readonly handlers?: readonly HandlerDefinition[];
  /** The module `handlers` came from; steps with `isolation: process` load it in their child. */
  readonly handlersModule?: string;
  /** Artifacts over the inline limit are written here (SQ_ARTIFACT_DIR); without it they are refused. */
  readonly artifactDir?: string;
  readonly logger?: Logger;
  readonly workerId?: string;
  /** How long a job lock lives without renewal; a dead worker's job restarts after it (docs/recovery.md). @default 5000 */
  readonly lockDurationMs?: number;
  /** How often stalled jobs (expired locks) are moved back to wait. @default 2000 */
  readonly stalledIntervalMs?: number;
  /**
   * In-flight attempts get this long to finish on close before they are given back; close()
   * resolves within grace + 1.5 s whatever Redis does. @default 30000
   */
  readonly shutdownGraceMs?: number;
  /** Reaper passes at start, on reconnect and at this interval; `false` turns the reaper off. @default 60000 */
  readonly recoveryIntervalMs?: number | false;
  /** Active runs older than this are marked failed by the reaper. @default 24 h */
  readonly recoveryMaxAgeMs?: number;
  /**
   * Free expired guardrail permits and reservations on each reaper pass (replace the
   * guardrails'); the reclaimer of unused Function libraries always runs after them.
   */
  readonly reclaimers?: readonly Reclaimer[];
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
  // Made now, so its first deadline job is one round trip after the state that needs it.
  deadlineQueueOf(queue);
  queue.on('error', (err) => log.warn({ err: err.message }, 'queue connection error'));
  const concurrency = options.concurrency ?? 8;
  // Guardrails run by default; a guard passed in (tests, embedding) replaces them.
  const guardrails = options.guard
    ? undefined
    : await startWorkerGuardrails({ redis, keys, store, registry, workerId, leaseMs: options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS, log, onEvent: (e) => listeners.emit(e) });

  const baseDeps: StepProcessorDeps = {
    redis,
    keys,
    store,
    queue,
    runs: createRunCache(redis, keys),
    registry,
    inflight,
    guard: guardrails?.guard ?? options.guard ?? OPEN_GUARD,
    observer: options.observer,
    handlersModule: options.handlersModule,
    artifactDir: options.artifactDir,
    log,
    workerId,
    onTransition(runId, result) {
      if (listeners.size === 0 || !result.emittedAny(listeners.wants)) return;
      const ts = Date.now();
      for (const e of result.emitted) if (listeners.wants(e.type)) listeners.emit({ type: e.type, ts, runId, stepId: e.stepId, attempt: e.attempt, workerId, data: e.data });
    },
  };
  // Fused finishes not yet recorded; close waits for them.
  let backgroundWork = 0;
  let backgroundDone: (() => void) | undefined;
  let fused: StepProcessorDeps['fused'];
  const deps: StepProcessorDeps = {
    ...baseDeps,
    get fused() {
      return fused;
    },
    background: {
      begin() {
        backgroundWork++;
      },
      end() {
        if (--backgroundWork === 0) backgroundDone?.();
      },
    },
  };
  const processStep = createStepProcessor(deps);

  async function processDeadline(job: Job<DeadlineJobData>): Promise<void> {
    const run = await deps.runs.get(job.data.runId);
    if (run) await enforceDeadline(deps, run, job.data.group);
  }

  const stopControl = await subscribeControl(subscriber, keys.control, inflight, log);
  // The step and the deadline workers' BullMQ settings.
  const workerOptions = {
    prefix,
    lockDuration: options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS,
    stalledInterval: options.stalledIntervalMs ?? DEFAULT_STALLED_INTERVAL_MS,
    maxStalledCount: 3,
    runRetryDelay: RUN_RETRY_DELAY_MS,
    // For jobs whose options say nothing, as step jobs' (src/engine/jobs.ts).
    ...KEEP_JOBS,
  };
  const worker = new Worker(
    STEP_QUEUE,
    // Not async: an async function returning a promise costs the step two more microtasks.
    (job: Job, token?: string): Promise<void> => {
      if (isStepJobName(job.name)) {
        // Stored short (StepJobWire); the processor reads the named form.
        const data = stepJobData(job.data);
        if (!data) {
          log.warn({ jobId: job.id }, 'step job without a run, step and attempt; dropped');
          return Promise.resolve();
        }
        job.data = data;
        return processStep(job as Job<StepJobData>, token);
      }
      // A deadline job an older client put in the step queue (they now have their own).
      if (job.name === JOB_NAMES.runDeadline || job.name === JOB_NAMES.groupDeadline) return processDeadline(job as Job<DeadlineJobData>);
      log.warn({ jobName: job.name, jobId: job.id }, 'unknown job name');
      return Promise.resolve();
    },
    {
      ...workerOptions,
      connection: bullConnection,
      concurrency,
      // Started below, once its calls are wrapped (fused completion): with jobs already
      // waiting, a slot's first fetch would otherwise come before the wrap, unclaimed.
      autorun: false,
    },
  );
  worker.on('error', (err) => log.warn({ err }, 'bullmq worker error'));
  // Deadline jobs wait in a queue of their own (DEADLINE_QUEUE says why), drained here too.
  const deadlineWorker = new Worker(DEADLINE_QUEUE, (job: Job<DeadlineJobData>) => processDeadline(job), { ...workerOptions, connection: redis, concurrency: DEADLINE_CONCURRENCY });
  deadlineWorker.on('error', (err) => log.warn({ err }, 'bullmq deadline worker error'));
  if (options.observer) {
    worker.on('stalled', () => options.observer?.jobStalled(STEP_QUEUE));
    deadlineWorker.on('stalled', () => options.observer?.jobStalled(DEADLINE_QUEUE));
  }
  worker.on('failed', (job, err) => {
    if (job) log.warn({ jobId: job.id, err: err.message }, 'job failed in bullmq');
  });
  await Promise.all([worker.waitUntilReady(), deadlineWorker.waitUntilReady()]);
  // BullMQ registered its scripts on bullConnection: steps can now finish with its completion.
  fused = fuseCompletion(
    bullConnection,
    {
      keys,
      workerId,
      // A handler with its own estimate may need a reservation: its steps are claimed after
      // admission. A custom guard may decide anything before the claim: nothing is pre-claimed,
      // except under OPEN_GUARD, which lets every attempt proceed.
      plainHandlers: options.guard && options.guard !== OPEN_GUARD ? [] : registry.names().filter((name) => !registry.get(name).estimate),
      // The built-in guardrails admit a guarded step with a static estimate as its job is handed over.
      ...(options.guard ? {} : { handover: { handlers: registry.names(), leaseMs: options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS } }),
      // A chain's next step is queued (and handed to the same slot) in the completion's script.
      addKeys: [queue.keys.wait, queue.keys.paused, queue.keys.meta, queue.keys.id, queue.keys.completed, queue.keys.delayed, queue.keys.active, queue.keys.events, queue.keys.marker],
    },
    log,
  );
  // As BullMQ's autorun does.
  worker.run().catch((error: unknown) => worker.emit('error', error instanceof Error ? error : new Error(String(error))));

  const startedAt = Date.now();
  const credentialNames = heldCredentialNames();
  const heartbeat = startHeartbeat(redis, keys, () => ({
    workerId,
    concurrency,
    startedAt,
    handlers: registry.names(),
    credentials: credentialNames,
    inflight: inflight.count,
    functions: [...(fused?.libraries() ?? []), ...(deps.guard.libraries?.() ?? [])],
  }));
  await heartbeat.first;
  log.info({ concurrency, prefix, handlers: registry.names() }, 'worker ready');
  const reaper =
    options.recoveryIntervalMs === false
      ? undefined
      : startReaper({
          redis,
          keys,
          queue,
          by: workerId,
          intervalMs: options.recoveryIntervalMs ?? 60_000,
          maxAgeMs: options.recoveryMaxAgeMs,
          reclaimers: [...(options.reclaimers ?? guardrailReclaimers()), libraryReclaimer()],
          log,
        });

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    const grace = options.shutdownGraceMs ?? 30_000;
    const reaperStopped = reaper?.stop(Math.min(grace, SHUTDOWN_CLEANUP_MS));
    const drained = Promise.all([worker.close(), deadlineWorker.close()]);
    if (!(await settlesWithin(drained, grace))) {
      const n = inflight.abortAll(SHUTDOWN_REASON);
      log.warn({ aborted: n, graceMs: grace }, 'shutdown grace over: giving running attempts back');
      // Each aborted attempt releases its step and delays its job; one that cannot (Redis
      // down) keeps its lock until it expires and BullMQ redelivers it: no attempt is lost.
      await settlesWithin(drained, SHUTDOWN_GIVE_BACK_MS);
    }
    await settlesWithin(backgroundWork === 0 ? Promise.resolve() : new Promise<void>((resolve) => (backgroundDone = resolve)), SHUTDOWN_CLEANUP_MS);
    await settlesWithin(Promise.allSettled([reaperStopped, heartbeat.stop(workerId), stopControl(), guardrails?.stop(), closeDeadlineQueue(queue).then(() => queue.close())]), SHUTDOWN_CLEANUP_MS);
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
