/**
 * Item 2: along a chain of sequential no-op steps, the time from step N's handler ending to
 * step N+1's handler starting (both stamped with performance.now() in the worker process).
 * Raw BullMQ's equivalent, a processor that adds the next job, runs in the same rounds.
 */
import type { Mark } from '../protocol.ts';
import { goal, type BenchContext, type Goal } from '../context.ts';
import { drain, onTree, rawChain, scenarioChain, type Workload } from '../sides.ts';
import { rotated } from './throughput.ts';
import { latencySummary, median, ratio, round } from '../stats.ts';

/** Gaps between consecutive links, ordered by the number in their ids (`s0042`, `42`). */
export function handoffGaps(marks: readonly Mark[]): number[] {
  const ordered = [...marks].sort((a, b) => Number(a[0].replace(/^\D+/, '')) - Number(b[0].replace(/^\D+/, '')));
  const gaps: number[] = [];
  for (let i = 1; i < ordered.length; i++) gaps.push(ordered[i][1] - ordered[i - 1][2]);
  return gaps;
}

type Side = 'raw' | 'sq' | 'baseline';

export async function handoff(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { chain, concurrency, rounds, baselineTree } = ctx.options;
  const workloads: Partial<Record<Side, Workload>> = { raw: rawChain(chain), sq: scenarioChain(chain) };
  if (baselineTree) workloads.baseline = onTree(scenarioChain(chain), baselineTree);
  const sides = Object.keys(workloads) as Side[];
  const gaps: Record<Side, number[]> = { raw: [], sq: [], baseline: [] };
  const perStepMs: Record<Side, number[]> = { raw: [], sq: [], baseline: [] };
  for (let r = 1; r <= rounds; r++) {
    for (const side of rotated(sides, r)) {
      let marks: Mark[] = [];
      const drained = await drain(ctx.redis, workloads[side] as Workload, concurrency, {
        afterDone: async (child) => {
          marks = await child.marks();
        },
      });
      if (marks.length !== chain) throw new Error(`handoff ${side}: ${marks.length} of ${chain} links recorded`);
      const these = handoffGaps(marks);
      gaps[side].push(...these);
      perStepMs[side].push((drained.seconds * 1000) / chain);
      ctx.progress(`handoff round ${r}/${rounds} ${side}: p50 ${median(these).toFixed(3)} ms over ${these.length} handoffs`);
    }
  }
  const summary = (side: Side) => ({ ...latencySummary(gaps[side]), chainMsPerStep: round(median(perStepMs[side]), 3) });
  const raw = summary('raw');
  const sq = summary('sq');
  return {
    result: {
      config: { chain, concurrency, rounds },
      raw,
      scenarioQueue: sq,
      p50Ratio: ratio(sq.p50Ms, raw.p50Ms),
      p99Ratio: ratio(sq.p99Ms, raw.p99Ms),
      ...(baselineTree ? { baseline: { tree: baselineTree, ...summary('baseline') } } : {}),
    },
    goals: [goal('handoff', 'scenario-queue handoff p50 (ms)', sq.p50Ms, '≤', 2), goal('handoff', 'scenario-queue handoff p99 (ms)', sq.p99Ms, '≤', 10)],
  };
}
