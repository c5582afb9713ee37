/**
 * Item 4: a diamond (one root, width − 2 branches, one join) against `width` independent
 * steps, both one run of `width` no-op steps on the same worker process, alternated; each
 * timed from enqueue to the run's end.
 */
import { performance } from 'node:perf_hooks';
import { createClient } from '../../src/client.ts';
import { createKeys, runKeyList } from '../../src/redis/keys.ts';
import type { ScenarioDef } from '../../src/scenario/types.ts';
import { startChild } from '../child.ts';
import { goal, type BenchContext, type Goal } from '../context.ts';
import { diamondScenario, independentScenario } from '../scenarios.ts';
import { median, ratio, round } from '../stats.ts';
import { rotated } from './throughput.ts';

const SHAPES = ['independent', 'diamond'] as const;

export async function fanout(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { width, concurrency, rounds } = ctx.options;
  const prefix = ctx.redis.prefix();
  const keys = createKeys(prefix);
  const defs: Record<(typeof SHAPES)[number], ScenarioDef> = { independent: independentScenario(width), diamond: diamondScenario(width) };
  const ms = { independent: [] as number[], diamond: [] as number[] };
  const client = await createClient({ redisUrl: ctx.redis.url, prefix });
  const child = await startChild({ side: 'sq', redisUrl: ctx.redis.url, prefix, concurrency });
  let runs = 0;
  try {
    const once = async (shape: (typeof SHAPES)[number]) => {
      const t0 = performance.now();
      const { runId } = await client.enqueue(defs[shape]);
      const stats = await child.waitFor(++runs, 120_000);
      const elapsed = performance.now() - t0;
      if (stats.failed > 0) throw new Error(`fanout ${shape}: run ${runId} did not succeed`);
      await ctx.redis.admin.unlink(...runKeyList(keys, runId));
      return elapsed;
    };
    // One uncounted run of each warms the worker's JIT for both shapes alike.
    for (const shape of SHAPES) await once(shape);
    // A run takes about a second, so three times the rounds: a busy machine moves single runs a lot.
    const repetitions = rounds * 3;
    for (let r = 1; r <= repetitions; r++) {
      for (const shape of rotated(SHAPES, r)) {
        const elapsed = await once(shape);
        ms[shape].push(elapsed);
        ctx.progress(`fanout round ${r}/${repetitions} ${shape}: ${elapsed.toFixed(1)} ms`);
      }
    }
  } finally {
    await child.close();
    await client.close();
    await ctx.redis.clean(prefix);
  }
  const independentMs = round(median(ms.independent), 1);
  const diamondMs = round(median(ms.diamond), 1);
  const timeRatio = ratio(diamondMs, independentMs);
  return {
    result: {
      config: { width, concurrency, repetitions: rounds * 3, diamond: `1 root → ${width - 2} branches → 1 join` },
      independent: { ms: independentMs, stepsPerSec: round((width / independentMs) * 1000, 0), rounds: ms.independent.map((v) => round(v, 1)) },
      diamond: { ms: diamondMs, stepsPerSec: round((width / diamondMs) * 1000, 0), rounds: ms.diamond.map((v) => round(v, 1)) },
      ratio: timeRatio,
    },
    goals: [goal('fanout', 'diamond time ÷ independent time', timeRatio, '≤', 1.5)],
  };
}
