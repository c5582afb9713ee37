/**
 * Item 6: RSS of a scenario-queue worker process after 10k and after 100k no-op steps
 * (read after two forced GCs, so garbage not yet collected does not count as growth).
 * Finished runs' keys are deleted as the benchmark goes, as retention would.
 */
import { performance } from 'node:perf_hooks';
import { createClient } from '../../src/client.ts';
import { createKeys, runKeyList } from '../../src/redis/keys.ts';
import { startChild } from '../child.ts';
import { goal, type BenchContext, type Goal } from '../context.ts';
import { enqueueIndependentRuns } from '../sides.ts';
import { round } from '../stats.ts';

const MiB = 2 ** 20;
/** Steps enqueued at a time; the next batch is enqueued while the worker runs this one. */
const BATCH_STEPS = 2_000;

export async function memory(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { memorySteps, stepsPerRun, concurrency } = ctx.options;
  const prefix = ctx.redis.prefix();
  const keys = createKeys(prefix);
  const client = await createClient({ redisUrl: ctx.redis.url, prefix });
  const child = await startChild({ side: 'sq', redisUrl: ctx.redis.url, prefix, concurrency }, { exposeGc: true });
  const readings: { steps: number; rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number; stepsPerSec: number }[] = [];
  try {
    const start = await child.stats(true);
    let enqueuedSteps = 0;
    let enqueuedRuns = 0;
    let inFlight: string[] = [];
    const t0 = performance.now();
    for (const checkpoint of memorySteps) {
      while (enqueuedSteps < checkpoint) {
        const n = Math.min(BATCH_STEPS, checkpoint - enqueuedSteps);
        const previous = inFlight;
        inFlight = await enqueueIndependentRuns(client, n, stepsPerRun);
        enqueuedSteps += n;
        // Wait for the batch before this one, so the queue never holds more than two.
        const stats = await child.waitFor(enqueuedRuns, 300_000);
        if (stats.failed > 0) throw new Error(`memory: ${stats.failed} runs did not succeed`);
        enqueuedRuns += inFlight.length;
        if (previous.length > 0) await ctx.redis.admin.unlink(...previous.flatMap((id) => runKeyList(keys, id)));
      }
      const stats = await child.waitFor(enqueuedRuns, 300_000);
      if (stats.failed > 0) throw new Error(`memory: ${stats.failed} runs did not succeed`);
      await ctx.redis.admin.unlink(...inFlight.flatMap((id) => runKeyList(keys, id)));
      inFlight = [];
      const after = await child.stats(true);
      const reading = {
        steps: checkpoint,
        rssMiB: round(after.rssBytes / MiB, 1),
        heapUsedMiB: round(after.heapUsedBytes / MiB, 1),
        heapTotalMiB: round(after.heapTotalBytes / MiB, 1),
        externalMiB: round(after.externalBytes / MiB, 1),
        stepsPerSec: round(checkpoint / ((performance.now() - t0) / 1000), 0),
      };
      readings.push(reading);
      ctx.progress(`memory after ${checkpoint} steps: rss ${reading.rssMiB} MiB, heap ${reading.heapUsedMiB} MiB`);
    }
    const growth = round(readings[readings.length - 1].rssMiB - readings[0].rssMiB, 1);
    return {
      result: {
        config: { memorySteps, stepsPerRun, concurrency },
        startRssMiB: round(start.rssBytes / MiB, 1),
        readings,
        rssGrowthMiB: growth,
        heapGrowthMiB: round(readings[readings.length - 1].heapUsedMiB - readings[0].heapUsedMiB, 1),
      },
      goals: [goal('memory', `worker RSS growth ${memorySteps[0]} → ${memorySteps[memorySteps.length - 1]} steps (MiB)`, growth, '≤', 30)],
    };
  } finally {
    await child.close();
    await client.close();
    await ctx.redis.clean(prefix);
  }
}
