/**
 * The two sides of every comparison, run the same way: a fresh worker child starts, the work
 * is enqueued while the queue is paused, and the clock runs from resume to the last unit done.
 * Filling after the worker is up keeps its start-up work (a recovery pass over active runs)
 * out of the measured window on the scenario-queue side.
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { createClient, type ScenarioClient } from '../src/client.ts';
import { STEP_QUEUE } from '../src/redis/keys.ts';
import type { ScenarioDef } from '../src/scenario/types.ts';
import { startChild, type BenchChild } from './child.ts';
import { cpuShares, cpuTimes } from './machine.ts';
import { RAW_QUEUE, type ChildStats, type Side } from './protocol.ts';
import type { BenchRedis } from './redis.ts';
import { chainScenario, independentScenario } from './scenarios.ts';

/** Work for one side: which worker child drains it, and how to enqueue it. */
export interface Workload {
  readonly label: string;
  readonly side: Side;
  readonly chainLength?: number;
  /** sq: the worker's guardrails ('default') or none ('open'). */
  readonly guard?: 'default' | 'open';
  /** Another checkout whose worker drains it (--baseline-tree). */
  readonly tree?: string;
  readonly steps: number;
  /**
   * Enqueues into a paused queue under `prefix`; `units` is what the child counts (jobs, or
   * runs). `tree`: the checkout whose worker drains it, whose client then enqueues (its jobs'
   * shape may differ from this checkout's).
   */
  fill(redis: BenchRedis, prefix: string, tree?: string): Promise<Filled>;
}

export interface Filled {
  readonly units: number;
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Timing and CPU of one drained workload. */
export interface Drained {
  steps: number;
  seconds: number;
  stepsPerSec: number;
  /** Worker process CPU (user + sys) per step, µs. */
  workerCpuUsPerStep: number;
  /** The worker's main thread alone, µs per step; NaN off Linux or for an older --baseline-tree child. */
  workerMainCpuUsPerStep: number;
  /** Redis server CPU per step, µs (includes other clients when Redis is shared). */
  redisCpuUsPerStep: number;
  /**
   * The worker's event-loop utilisation while it drained (0–1): below 1 its main thread waited,
   * on Redis's answers or for a core.
   */
  workerLoopBusy: number;
  /**
   * The whole machine's CPU time during the timed window, as shares (cpuShares): `stolen` by the
   * hypervisor and `idle`. Absent off Linux. A round with much stolen is a noisy one.
   */
  machine?: { stolen: number; idle: number };
}

const ADD_CHUNK = 1000;

async function pausedRawQueue(redis: BenchRedis, prefix: string) {
  const queue = new Queue(RAW_QUEUE, { connection: { url: redis.url, maxRetriesPerRequest: null }, prefix });
  await queue.pause();
  return queue;
}

/** `n` raw BullMQ no-op jobs. */
export function rawJobs(n: number): Workload {
  return {
    label: 'raw',
    side: 'raw',
    steps: n,
    async fill(redis, prefix) {
      const queue = await pausedRawQueue(redis, prefix);
      for (let i = 0; i < n; i += ADD_CHUNK) {
        const jobs = Array.from({ length: Math.min(ADD_CHUNK, n - i) }, (_, k) => ({ name: 'noop', data: { i: i + k }, opts: { removeOnComplete: true } }));
        await queue.addBulk(jobs);
      }
      return { units: n, resume: () => queue.resume(), close: () => queue.close() };
    },
  };
}

/** A raw chain of `n` jobs: each job's processor adds the next one. */
export function rawChain(n: number): Workload {
  return {
    label: 'raw-chain',
    side: 'raw-chain',
    chainLength: n,
    steps: n,
    async fill(redis, prefix) {
      const queue = await pausedRawQueue(redis, prefix);
      await queue.add('link', { i: 0 }, { removeOnComplete: true });
      return { units: n, resume: () => queue.resume(), close: () => queue.close() };
    },
  };
}

/** Enqueues runs of `perRun` steps (`n` in all, independent no-ops by default); returns their ids. */
export async function enqueueIndependentRuns(client: ScenarioClient, n: number, perRun: number, build: (size: number) => ScenarioDef = independentScenario): Promise<string[]> {
  const sizes: number[] = [];
  for (let left = n; left > 0; left -= perRun) sizes.push(Math.min(perRun, left));
  const defs = new Map<number, ScenarioDef>();
  const defOf = (size: number) => defs.get(size) ?? (defs.set(size, build(size)).get(size) as ScenarioDef);
  const runIds: string[] = [];
  for (let i = 0; i < sizes.length; i += 16) {
    const batch = await Promise.all(sizes.slice(i, i + 16).map((size) => client.enqueue(defOf(size))));
    runIds.push(...batch.map((r) => r.runId));
  }
  return runIds;
}

/** A client of `tree`'s checkout (--baseline-tree), or of this one: its runs are what its worker expects. */
export async function connectClient(redisUrl: string, prefix: string, tree?: string): Promise<ScenarioClient> {
  const connect = tree ? ((await import(resolve(tree, 'src/client.ts'))) as { createClient: typeof createClient }).createClient : createClient;
  return connect({ redisUrl, prefix });
}

function scenarioWorkload(label: string, steps: number, enqueue: (client: ScenarioClient, prefix: string) => Promise<number>, guard?: 'default' | 'open'): Workload {
  return {
    label,
    side: 'sq',
    guard,
    steps,
    async fill(redis, prefix, tree) {
      const client = await connectClient(redis.url, prefix, tree);
      const queue = new Queue(STEP_QUEUE, { connection: client.redis, prefix });
      await queue.pause();
      const runs = await enqueue(client, prefix);
      return {
        units: runs,
        resume: () => queue.resume(),
        async close() {
          await queue.close();
          await client.close();
        },
      };
    },
  };
}

export interface ScenarioRunsOptions {
  readonly label?: string;
  readonly guard?: 'default' | 'open';
  /** Builds the scenario of `size` steps. @default independentScenario */
  readonly build?: (size: number) => ScenarioDef;
  /** Runs before the runs are enqueued (e.g. applies services). */
  readonly setup?: (client: ScenarioClient) => Promise<void>;
}

/** `n` scenario-queue no-op steps, `perRun` independent steps per run. */
export function scenarioRuns(n: number, perRun: number, options: ScenarioRunsOptions = {}): Workload {
  return scenarioWorkload(
    options.label ?? 'sq',
    n,
    async (client) => {
      await options.setup?.(client);
      return (await enqueueIndependentRuns(client, n, perRun, options.build)).length;
    },
    options.guard,
  );
}

/** One run of `n` sequential bench-mark steps. */
export function scenarioChain(n: number): Workload {
  return scenarioWorkload('sq-chain', n, async (client) => {
    await client.enqueue(chainScenario(n));
    return 1;
  });
}

/** Hooks around the phases (the Redis cost item counts commands in them). */
export interface DrainHooks {
  /** Worker ready and idle; nothing enqueued yet. */
  beforeFill?(): Promise<void>;
  /** Everything enqueued, queue still paused. */
  afterFill?(): Promise<void>;
  /** Right before the queue resumes. */
  beforeResume?(): Promise<void>;
  /** After the last unit is done, before the worker closes. */
  afterDone?(child: BenchChild): Promise<void>;
}

/**
 * Runs `workload` on a fresh worker child of concurrency `concurrency`; cleans up its keys.
 * `warmup`, drained first by the same child and not measured, brings it to the state of a
 * worker that has been up a while: its code compiled, its caches full.
 */
export async function drain(redis: BenchRedis, workload: Workload, concurrency: number, hooks: DrainHooks = {}, warmup?: Workload): Promise<Drained> {
  const prefix = redis.prefix();
  const child = await startChild({ side: workload.side, chainLength: workload.chainLength, guard: workload.guard, redisUrl: redis.url, prefix, concurrency }, { tree: workload.tree });
  let filled: Filled | undefined;
  try {
    if (warmup) {
      const warm = await warmup.fill(redis, prefix, warmup.tree);
      try {
        await warm.resume();
        const warmedUp = await child.waitFor(warm.units, Math.max(120_000, warmup.steps * 20));
        if (warmedUp.failed > 0) throw new Error(`${warmup.label} (warm-up): ${warmedUp.failed} of ${warmedUp.done} units did not succeed`);
      } finally {
        await warm.close();
      }
    }
    await hooks.beforeFill?.();
    filled = await workload.fill(redis, prefix, workload.tree);
    await hooks.afterFill?.();
    await hooks.beforeResume?.();
    const before = await child.stats();
    const redisCpu0 = await redis.cpuSeconds();
    const machine0 = cpuTimes();
    const t0 = performance.now();
    await filled.resume();
    // The child counts units since it started: the timed ones are those after `before`.
    const after = await child.waitFor(before.done + filled.units, Math.max(120_000, workload.steps * 20));
    const seconds = (performance.now() - t0) / 1000;
    const machine = cpuShares(machine0, cpuTimes());
    const redisCpu1 = await redis.cpuSeconds();
    await hooks.afterDone?.(child);
    if (after.failed > 0) throw new Error(`${workload.label}: ${after.failed} of ${after.done - before.done} units did not succeed`);
    const cpuUs = after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs;
    return {
      steps: workload.steps,
      seconds,
      stepsPerSec: workload.steps / seconds,
      workerCpuUsPerStep: cpuUs / workload.steps,
      workerMainCpuUsPerStep: before.mainThreadCpuUs === undefined || after.mainThreadCpuUs === undefined ? Number.NaN : (after.mainThreadCpuUs - before.mainThreadCpuUs) / workload.steps,
      redisCpuUsPerStep: ((redisCpu1 - redisCpu0) * 1e6) / workload.steps,
      workerLoopBusy: loopBusy(before, after),
      ...(machine ? { machine } : {}),
    };
  } finally {
    await child.close();
    await filled?.close();
    await redis.clean(prefix);
  }
}

/** NaN for a --baseline-tree child from before the figure existed. */
function loopBusy(before: ChildStats, after: ChildStats): number {
  if (before.loopActiveMs === undefined) return Number.NaN;
  const active = after.loopActiveMs - before.loopActiveMs;
  const idle = after.loopIdleMs - before.loopIdleMs;
  return active + idle > 0 ? active / (active + idle) : 0;
}

/** The same workload drained by the worker of another checkout. */
export function onTree(workload: Workload, tree: string): Workload {
  return { ...workload, label: `${workload.label}-baseline`, tree };
}
