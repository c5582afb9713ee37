import type { RunStatus, RunSummary, StepSummary } from '../../engine/types.ts';

// Worst last: a suite's verdict is its worst run (SPEC §15 "exit code is the worst").
const RUN_SEVERITY: readonly RunStatus[] = ['succeeded', 'skipped', 'queued', 'running', 'cancelled', 'halted', 'timed_out', 'failed'];

/** The worst of several run statuses; `skipped` when there are none. */
export function worstRunStatus(statuses: readonly RunStatus[]): RunStatus {
  let worst: RunStatus = statuses.length === 0 ? 'skipped' : 'succeeded';
  for (const s of statuses) if (RUN_SEVERITY.indexOf(s) > RUN_SEVERITY.indexOf(worst)) worst = s;
  return worst;
}

/** Runs that exit 0 (SPEC §15): succeeded, or skipped by a credential gate. */
export function isPassingRun(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'skipped';
}

/** How a step counts for reports: a continued failure passes, unfinished steps are pending. */
export type StepOutcome = 'passed' | 'failed' | 'skipped' | 'continued' | 'pending';

/** Classifies a step the way the run verdict sees it (SPEC §5). */
export function stepOutcome(step: StepSummary): StepOutcome {
  switch (step.status) {
    case 'succeeded':
    case 'reused':
      return 'passed';
    case 'failed':
    case 'timed_out':
      return step.continued ? 'continued' : 'failed';
    case 'cancelled':
      return 'failed';
    case 'skipped':
      return 'skipped';
    default:
      return 'pending';
  }
}

/** Step counts by outcome, for verdict lines. */
export function countOutcomes(summary: RunSummary): Record<StepOutcome, number> {
  const counts: Record<StepOutcome, number> = { passed: 0, failed: 0, skipped: 0, continued: 0, pending: 0 };
  for (const step of summary.steps) counts[stepOutcome(step)]++;
  return counts;
}

/** The suite label when every run carries the same one. */
export function sharedSuite(summaries: readonly RunSummary[]): string | undefined {
  const suites = new Set(summaries.map((s) => s.suite));
  return suites.size === 1 ? summaries[0]?.suite : undefined;
}
