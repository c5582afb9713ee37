import type { AttemptError, BudgetScopeSummary, CostTotals, RunStatus, RunSummary, StepStatus, StepSummary } from '../../engine/types.ts';
import type { ErrorKind } from '../../errors.ts';
import { sharedSuite, worstRunStatus } from './verdict.ts';

/** One attempt error as `--json` prints it: no stack, worker or timing (those belong in failure bundles). */
export interface JsonAttemptError {
  attempt: number;
  kind: ErrorKind;
  message: string;
  retryDelayMs?: number;
}

/** One step of the SPEC §15 JSON summary. */
export interface JsonStepSummary {
  id: string;
  status: StepStatus;
  attempts: number;
  durationMs?: number;
  errors: JsonAttemptError[];
  reason?: string;
  continued?: boolean;
  service?: string;
  cost?: CostTotals;
}

/** The SPEC §15 JSON summary of one run; the SPEC's keys first, in the SPEC's order. */
export interface JsonRunSummary {
  runId: string;
  scenario: string;
  status: RunStatus;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  cost: CostTotals;
  steps: JsonStepSummary[];
  reason?: string;
  suite?: string;
  costByService?: Record<string, CostTotals>;
  budgets?: BudgetScopeSummary[];
}

/** Several runs enqueued together (SPEC §15: "one summary per run under `runs`"). */
export interface JsonSuiteReport {
  suite?: string;
  status: RunStatus;
  runs: JsonRunSummary[];
}

// Assigning optional keys one by one keeps absent ones absent (not `undefined`) and fixes the order.
function put<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function copyCost(cost: CostTotals): CostTotals {
  return { usd: cost.usd, tokens: { input: cost.tokens.input, output: cost.tokens.output }, calls: cost.calls };
}

function toJsonError(error: AttemptError): JsonAttemptError {
  const out: JsonAttemptError = { attempt: error.attempt, kind: error.kind, message: error.message };
  put(out, 'retryDelayMs', error.retryDelayMs);
  return out;
}

function toJsonStep(step: StepSummary): JsonStepSummary {
  const out = { id: step.id, status: step.status, attempts: step.attempts } as JsonStepSummary;
  put(out, 'durationMs', step.durationMs);
  out.errors = step.errors.map(toJsonError);
  put(out, 'reason', step.reason);
  if (step.continued) out.continued = true;
  put(out, 'service', step.service);
  if (step.cost) out.cost = copyCost(step.cost);
  return out;
}

/** The SPEC §15 JSON summary of one run, plus `reason`, `suite` and per-step extras. */
export function toJsonSummary(summary: RunSummary): JsonRunSummary {
  const out = { runId: summary.runId, scenario: summary.scenario, status: summary.status } as JsonRunSummary;
  put(out, 'startedAt', summary.startedAt);
  put(out, 'finishedAt', summary.finishedAt);
  put(out, 'durationMs', summary.durationMs);
  out.cost = copyCost(summary.cost);
  out.steps = summary.steps.map(toJsonStep);
  put(out, 'reason', summary.reason);
  put(out, 'suite', summary.suite);
  put(out, 'costByService', summary.costByService);
  put(out, 'budgets', summary.budgets);
  return out;
}

/** What `run --json` prints: one run → its summary; several → `{ suite?, status (worst), runs }`. */
export function toJsonReport(summaries: readonly RunSummary[]): JsonRunSummary | JsonSuiteReport {
  if (summaries.length === 1) return toJsonSummary(summaries[0]);
  const out = {} as JsonSuiteReport;
  put(out, 'suite', sharedSuite(summaries));
  out.status = worstRunStatus(summaries.map((s) => s.status));
  out.runs = summaries.map(toJsonSummary);
  return out;
}
