/**
 * Item 1: raw BullMQ no-op jobs/s vs scenario-queue no-op steps/s, same worker concurrency,
 * same count, one worker process each, sides alternated round by round (A B, B A, …).
 */
import { goal, type BenchContext, type Goal } from '../context.ts';
import { drain, rawJobs, scenarioRuns, type Drained } from '../sides.ts';
import { median, ratio, round } from '../stats.ts';

const SIDES = ['raw', 'sq'] as const;

function sideSummary(drained: Drained[]) {
  return {
    stepsPerSec: round(median(drained.map((d) => d.stepsPerSec)), 0),
    workerCpuUsPerStep: round(median(drained.map((d) => d.workerCpuUsPerStep)), 1),
    redisCpuUsPerStep: round(median(drained.map((d) => d.redisCpuUsPerStep)), 1),
    rounds: drained.map((d) => ({ seconds: round(d.seconds, 3), stepsPerSec: round(d.stepsPerSec, 0), workerCpuUsPerStep: round(d.workerCpuUsPerStep, 1), redisCpuUsPerStep: round(d.redisCpuUsPerStep, 1) })),
  };
}

export async function throughput(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { steps, stepsPerRun, concurrency, rounds } = ctx.options;
  const measured: Record<(typeof SIDES)[number], Drained[]> = { raw: [], sq: [] };
  for (let r = 1; r <= rounds; r++) {
    const order = r % 2 === 1 ? SIDES : [...SIDES].reverse();
    for (const side of order) {
      const drained = await drain(ctx.redis, side === 'raw' ? rawJobs(steps) : scenarioRuns(steps, stepsPerRun), concurrency);
      measured[side].push(drained);
      ctx.progress(`throughput round ${r}/${rounds} ${side}: ${Math.round(drained.stepsPerSec)} steps/s (${drained.seconds.toFixed(2)} s)`);
    }
  }
  const raw = sideSummary(measured.raw);
  const sq = sideSummary(measured.sq);
  const throughputRatio = ratio(sq.stepsPerSec, raw.stepsPerSec);
  return {
    result: {
      config: { steps, stepsPerRun, concurrency, rounds },
      raw,
      scenarioQueue: sq,
      ratio: throughputRatio,
      roundRatios: measured.sq.map((d, i) => ratio(d.stepsPerSec, measured.raw[i].stepsPerSec)),
      workerCpuRatio: ratio(sq.workerCpuUsPerStep, raw.workerCpuUsPerStep),
      redisCpuRatio: ratio(sq.redisCpuUsPerStep, raw.redisCpuUsPerStep),
    },
    goals: [goal('throughput', 'scenario-queue steps/s ÷ raw BullMQ jobs/s', throughputRatio, '≥', 0.6)],
  };
}
