/**
 * A worker child of the benchmark: one raw BullMQ Worker or one scenario-queue worker,
 * alone in its process so its CPU and RSS are its own. Driven over IPC (bench/protocol.ts).
 */
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { Queue, Worker, type Job } from 'bullmq';
import { pino } from 'pino';
import { z } from 'zod';
import { defineHandler } from '../src/handlers/define.ts';
import { createWorker } from '../src/worker/worker.ts';
import { OPEN_GUARD } from '../src/worker/guard.ts';
import type { EventType } from '../src/engine/types.ts';
import { startHeapSampling } from './heap-sampling.ts';
import { ChildConfig, RAW_QUEUE, type ChildReply, type ChildRequest, type ChildStats, type Mark } from './protocol.ts';

const config = ChildConfig.parse(JSON.parse(process.env.BENCH_CHILD ?? '{}'));
const MAX_MARKS = 10_000;
const marks: Mark[] = [];
let done = 0;
let failed = 0;
const waiters: { count: number; resolve: () => void }[] = [];

function mark(id: string, startMs: number): void {
  if (marks.length < MAX_MARKS) marks.push([id, startMs, performance.now()]);
}

function completed(ok: boolean): void {
  done++;
  if (!ok) failed++;
  for (let i = waiters.length - 1; i >= 0; i--) {
    if (done >= waiters[i].count) waiters.splice(i, 1)[0].resolve();
  }
}

/** A no-op that records when it started and ended, for handoff latency. */
export const benchMark = defineHandler({
  name: 'bench-mark',
  input: z.unknown(),
  run: (_input, ctx) => {
    mark(ctx.stepId, performance.now());
    return null;
  },
});

async function startRaw(): Promise<() => Promise<void>> {
  const connection = { url: config.redisUrl, maxRetriesPerRequest: null };
  const queue = new Queue(RAW_QUEUE, { connection, prefix: config.prefix });
  const processor =
    config.side === 'raw'
      ? async () => null
      : async (job: Job<{ i: number }>) => {
          mark(String(job.data.i), performance.now());
          if (job.data.i + 1 < config.chainLength) await queue.add('link', { i: job.data.i + 1 }, { removeOnComplete: true });
          return null;
        };
  const worker = new Worker(RAW_QUEUE, processor, { connection, prefix: config.prefix, concurrency: config.concurrency });
  worker.on('completed', () => completed(true));
  worker.on('failed', () => completed(false));
  worker.on('error', (err) => process.stderr.write(`[bench child] bullmq error: ${err.message}\n`));
  await worker.waitUntilReady();
  return async () => {
    await worker.close();
    await queue.close();
  };
}

const RUN_ENDS: EventType[] = ['run.succeeded', 'run.failed', 'run.timed_out', 'run.cancelled', 'run.halted'];

async function startScenarioWorker(): Promise<() => Promise<void>> {
  const worker = await createWorker({
    redisUrl: config.redisUrl,
    prefix: config.prefix,
    concurrency: config.concurrency,
    handlers: [benchMark],
    logger: pino({ level: 'warn' }, pino.destination(2)),
    shutdownGraceMs: 1_000,
    ...(config.guard === 'open' ? { guard: OPEN_GUARD } : {}),
  });
  for (const type of RUN_ENDS) worker.on(type, () => completed(type === 'run.succeeded'));
  return () => worker.close();
}

/** The main thread's CPU time in µs (schedstat's first field is ns on a CPU), or undefined off Linux. */
function mainThreadCpuUs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return undefined;
  }
}

/**
 * With BENCH_GC_MARKS=1, a line on stderr at every stats request (a timed window's start and
 * end): pid, side, ms since the process started, units done and the old space's use. Beside
 * `--trace-gc-nvp` (BENCH_CHILD_NODE_ARGS), bench/tools/gc-window.mjs reads the scavenges of
 * each window from them.
 */
const GC_MARKS = process.env.BENCH_GC_MARKS === '1';

function gcMark(): void {
  const old = getHeapSpaceStatistics().find((space) => space.space_name === 'old_space')?.space_used_size ?? 0;
  process.stderr.write(`[bench gc-mark] pid=${process.pid} side=${config.side} ms=${performance.now().toFixed(1)} done=${done} old=${old}\n`);
}

function stats(): ChildStats {
  if (GC_MARKS) gcMark();
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  return { done, failed, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal, externalBytes: mem.external, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, mainThreadCpuUs: mainThreadCpuUs(), loopActiveMs: loop.active, loopIdleMs: loop.idle };
}

function reply(message: ChildReply): void {
  process.send?.(message);
}

const stopSampling = await startHeapSampling(config.side);
const closeWorker = config.side === 'sq' ? await startScenarioWorker() : await startRaw();
const close = async () => {
  await closeWorker();
  await stopSampling();
};

process.on('message', (request: ChildRequest) => {
  switch (request.cmd) {
    case 'waitFor':
      if (done >= request.count) reply({ id: request.id, type: 'stats', stats: stats() });
      else waiters.push({ count: request.count, resolve: () => reply({ id: request.id, type: 'stats', stats: stats() }) });
      return;
    case 'stats':
      if (request.gc && globalThis.gc) {
        globalThis.gc();
        globalThis.gc();
      }
      reply({ id: request.id, type: 'stats', stats: stats() });
      return;
    case 'marks':
      reply({ id: request.id, type: 'marks', marks });
      return;
    case 'close':
      close()
        .then(() => reply({ id: request.id, type: 'closed' }))
        .catch((e: unknown) => reply({ id: request.id, type: 'error', message: String(e) }))
        .finally(() => process.disconnect());
      return;
  }
});
// The driver going away ends the child; nothing here may outlive the benchmark.
process.on('disconnect', () => setTimeout(() => process.exit(0), 2_000).unref());
reply({ id: 0, type: 'ready' });
