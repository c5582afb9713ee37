/**
 * Item 4: a diamond (one root, width − 2 branches, one join) against `width` independent
 * steps, both one run of `width` no-op steps on the same worker process, alternated; each
 * timed from enqueue to the run's end. With --baseline-tree, another checkout's client and
 * worker run the same two shapes, alternated with this tree's, for a same-run before/after.
 */
import { performance } from 'node:perf_hooks';
import type { ScenarioClient } from '../../src/client.ts';
import { createKeys, runKeyList } from '../../src/redis/keys.ts';
import type { ScenarioDef } from '../../src/scenario/types.ts';
import { startChild, type BenchChild } from '../child.ts';
import { goal, type BenchContext, type Goal } from '../context.ts';
import { diamondScenario, independentScenario } from '../scenarios.ts';
import { connectClient } from '../sides.ts';
import { median, ratio, round } from '../stats.ts';
import { rotated } from './throughput.ts';

const SHAPES = ['independent', 'diamond'] as const;
type Shape = (typeof SHAPES)[number];

/** One tree's client and worker on a prefix of their own, and the runs it has timed. */
interface Side {
  readonly client: ScenarioClient;
  readonly child: BenchChild;
  readonly prefix: string;
  runs: number;
  readonly ms: Record<Shape, number[]>;
}

async function openSide(ctx: BenchContext, tree?: string): Promise<Side> {
  const prefix = ctx.redis.prefix();
  const client = await connectClient(ctx.redis.url, prefix, tree);
  const child = await startChild({ side: 'sq', redisUrl: ctx.redis.url, prefix, concurrency: ctx.options.concurrency }, { tree }).catch(async (e: unknown) => {
    await client.close();
    throw e;
  });
  return { client, child, prefix, runs: 0, ms: { independent: [], diamond: [] } };
}

/** Medians of one side's rounds, and their ratio (the goal's figure for this tree). */
function summary(side: Side, width: number) {
  const independentMs = round(median(side.ms.independent), 1);
  const diamondMs = round(median(side.ms.diamond), 1);
  const shape = (ms: number, rounds: number[]) => ({ ms, stepsPerSec: round((width / ms) * 1000, 0), rounds: rounds.map((v) => round(v, 1)) });
  return { independent: shape(independentMs, side.ms.independent), diamond: shape(diamondMs, side.ms.diamond), ratio: ratio(diamondMs, independentMs) };
}

export async function fanout(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { width, rounds, baselineTree } = ctx.options;
  const defs: Record<Shape, ScenarioDef> = { independent: independentScenario(width), diamond: diamondScenario(width) };
  const sides: { label: string; side: Side }[] = [];
  try {
    sides.push({ label: 'this tree', side: await openSide(ctx) });
    if (baselineTree) sides.push({ label: 'baseline', side: await openSide(ctx, baselineTree) });
    const once = async (side: Side, shape: Shape) => {
      const t0 = performance.now();
      const { runId } = await side.client.enqueue(defs[shape]);
      const stats = await side.child.waitFor(++side.runs, 120_000);
      const elapsed = performance.now() - t0;
      if (stats.failed > 0) throw new Error(`fanout ${shape}: run ${runId} did not succeed`);
      await ctx.redis.admin.unlink(...runKeyList(createKeys(side.prefix), runId));
      return elapsed;
    };
    // One uncounted run of each warms each worker's JIT for both shapes alike.
    for (const { side } of sides) for (const shape of SHAPES) await once(side, shape);
    // A run takes about a second, so three times the rounds: a busy machine moves single runs a lot.
    const repetitions = rounds * 3;
    const order = sides.flatMap(({ label, side }) => SHAPES.map((shape) => ({ label, side, shape })));
    for (let r = 1; r <= repetitions; r++) {
      for (const { label, side, shape } of rotated(order, r)) {
        const elapsed = await once(side, shape);
        side.ms[shape].push(elapsed);
        ctx.progress(`fanout round ${r}/${repetitions} ${shape}${baselineTree ? ` (${label})` : ''}: ${elapsed.toFixed(1)} ms`);
      }
    }
  } finally {
    for (const { side } of sides) {
      await side.child.close();
      await side.client.close();
      await ctx.redis.clean(side.prefix);
    }
  }
  const current = summary(sides[0].side, width);
  const baseline = sides[1] ? summary(sides[1].side, width) : undefined;
  return {
    result: {
      config: { width, concurrency: ctx.options.concurrency, repetitions: rounds * 3, diamond: `1 root → ${width - 2} branches → 1 join` },
      ...current,
      ...(baseline ? { baseline: { tree: baselineTree, ...baseline } } : {}),
    },
    goals: [goal('fanout', 'diamond time ÷ independent time', current.ratio, '≤', 1.5)],
  };
}
