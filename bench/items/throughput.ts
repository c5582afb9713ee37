/**
 * Item 1: raw BullMQ no-op jobs/s vs scenario-queue no-op steps/s, same worker concurrency,
 * same count, one worker process each, the order of the sides rotated round by round.
 * With --baseline-tree, another checkout's worker is a third side (before/after).
 */
import { goal, type BenchContext, type Goal } from '../context.ts';
import { drain, onTree, rawJobs, scenarioRuns, type Drained, type Workload } from '../sides.ts';
import { median, ratio, round } from '../stats.ts';

type Side = 'raw' | 'sq' | 'baseline';

/** The median of the rounds' machine shares (Drained.machine), as percentages; undefined off Linux. */
function machinePercent(drained: Drained[], key: 'stolen' | 'idle'): number | undefined {
  const shares = drained.flatMap((d) => (d.machine ? [d.machine[key]] : []));
  return shares.length > 0 ? round(median(shares) * 100, 1) : undefined;
}

function sideSummary(drained: Drained[]) {
  return {
    stepsPerSec: round(median(drained.map((d) => d.stepsPerSec)), 0),
    workerCpuUsPerStep: round(median(drained.map((d) => d.workerCpuUsPerStep)), 1),
    workerMainCpuUsPerStep: round(median(drained.map((d) => d.workerMainCpuUsPerStep)), 1),
    redisCpuUsPerStep: round(median(drained.map((d) => d.redisCpuUsPerStep)), 1),
    workerLoopBusy: round(median(drained.map((d) => d.workerLoopBusy)), 3),
    // The whole machine during the timed windows: CPU stolen by the hypervisor and idle, in %.
    machineStolenPercent: machinePercent(drained, 'stolen'),
    machineIdlePercent: machinePercent(drained, 'idle'),
    rounds: drained.map((d) => ({
      seconds: round(d.seconds, 3),
      stepsPerSec: round(d.stepsPerSec, 0),
      workerCpuUsPerStep: round(d.workerCpuUsPerStep, 1),
      workerMainCpuUsPerStep: round(d.workerMainCpuUsPerStep, 1),
      redisCpuUsPerStep: round(d.redisCpuUsPerStep, 1),
      workerLoopBusy: round(d.workerLoopBusy, 3),
      ...(d.machine ? { machineStolenPercent: round(d.machine.stolen * 100, 1), machineIdlePercent: round(d.machine.idle * 100, 1) } : {}),
    })),
  };
}

/** `sides` in a different order each round, so none always runs first or last. */
export function rotated<T>(sides: readonly T[], round: number): T[] {
  return sides.map((_, i) => sides[(i + round - 1) % sides.length]);
}

export async function throughput(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { steps, stepsPerRun, concurrency, rounds, baselineTree, warmup } = ctx.options;
  const workloads: Partial<Record<Side, Workload>> = { raw: rawJobs(steps), sq: scenarioRuns(steps, stepsPerRun) };
  if (baselineTree) workloads.baseline = onTree(scenarioRuns(steps, stepsPerRun), baselineTree);
  const sides = Object.keys(workloads) as Side[];
  // Drained first by the same worker, not timed (--warmup): the figures of a worker up a while.
  const warm: Partial<Record<Side, Workload>> = warmup > 0 ? { raw: rawJobs(warmup), sq: scenarioRuns(warmup, stepsPerRun) } : {};
  if (baselineTree && warmup > 0) warm.baseline = onTree(scenarioRuns(warmup, stepsPerRun), baselineTree);
  const measured: Record<Side, Drained[]> = { raw: [], sq: [], baseline: [] };
  for (let r = 1; r <= rounds; r++) {
    for (const side of rotated(sides, r)) {
      const drained = await drain(ctx.redis, workloads[side] as Workload, concurrency, {}, warm[side]);
      measured[side].push(drained);
      const stolen = drained.machine ? `, ${Math.round(drained.machine.stolen * 100)} % of the CPU stolen` : '';
      ctx.progress(`throughput round ${r}/${rounds} ${side}: ${Math.round(drained.stepsPerSec)} steps/s (${drained.seconds.toFixed(2)} s${stolen})`);
    }
  }
  const raw = sideSummary(measured.raw);
  const sq = sideSummary(measured.sq);
  const throughputRatio = ratio(sq.stepsPerSec, raw.stepsPerSec);
  // The two sides of a round run back to back, so their ratio cancels the machine's slow drift
  // (raw BullMQ alone moves by a third between runs on a shared VM); the goal reads its median.
  const perRound = measured.sq.map((d, i) => d.stepsPerSec / measured.raw[i].stepsPerSec);
  const pairedRatio = round(median(perRound), 2);
  const baseline = baselineTree ? sideSummary(measured.baseline) : undefined;
  return {
    result: {
      config: { steps, stepsPerRun, concurrency, rounds, warmup },
      raw,
      scenarioQueue: sq,
      ratio: throughputRatio,
      roundRatios: perRound.map((r) => round(r, 2)),
      pairedRatio,
      workerCpuRatio: ratio(sq.workerCpuUsPerStep, raw.workerCpuUsPerStep),
      workerMainCpuRatio: ratio(sq.workerMainCpuUsPerStep, raw.workerMainCpuUsPerStep),
      redisCpuRatio: ratio(sq.redisCpuUsPerStep, raw.redisCpuUsPerStep),
      // Worker and Redis share the cores here, so steps/s follow the CPU both use per step.
      cpuPerStepRatio: ratio(raw.workerCpuUsPerStep + raw.redisCpuUsPerStep, sq.workerCpuUsPerStep + sq.redisCpuUsPerStep),
      ...(baseline
        ? {
            baseline: {
              tree: baselineTree,
              ...baseline,
              ratio: ratio(baseline.stepsPerSec, raw.stepsPerSec),
              currentOverBaseline: { stepsPerSec: ratio(sq.stepsPerSec, baseline.stepsPerSec), workerCpu: ratio(sq.workerCpuUsPerStep, baseline.workerCpuUsPerStep), redisCpu: ratio(sq.redisCpuUsPerStep, baseline.redisCpuUsPerStep) },
            },
          }
        : {}),
    },
    goals: [goal('throughput', 'scenario-queue steps/s ÷ raw BullMQ jobs/s (median of the rounds\' ratios)', pairedRatio, '≥', 0.6)],
  };
}
