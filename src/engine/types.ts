import type { ErrorKind } from '../errors.ts';

export const STEP_STATUSES = [
  'pending',
  'queued',
  'running',
  'retrying',
  'succeeded',
  'failed',
  'timed_out',
  'skipped',
  'cancelled',
  'reused',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];
export const TERMINAL_STEP_STATUSES: readonly StepStatus[] = ['succeeded', 'failed', 'timed_out', 'skipped', 'cancelled', 'reused'];

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'halted', 'skipped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'timed_out', 'cancelled', 'halted', 'skipped'];

export const SKIP_REASONS = ['condition_false', 'upstream_failed', 'fail_fast', 'credentials_missing', 'run_ended'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export const EVENT_TYPES = [
  'run.queued',
  'run.started',
  'run.succeeded',
  'run.failed',
  'run.timed_out',
  'run.cancelled',
  'run.halted',
  'run.skipped',
  'step.queued',
  'step.started',
  'step.retrying',
  'step.succeeded',
  'step.failed',
  'step.timed_out',
  'step.skipped',
  'step.cancelled',
  'step.reused',
  'budget.warning',
  'budget.exceeded',
  'circuit.opened',
  'circuit.half_open',
  'circuit.closed',
  'halt.on',
  'halt.off',
  'recovery.started',
  'recovery.action',
  'recovery.completed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One state change (SPEC §14); `id` is the Redis stream entry id. */
export interface ScenarioEvent {
  id?: string;
  type: EventType;
  ts: number;
  runId?: string;
  stepId?: string;
  attempt?: number;
  workerId?: string;
  data: Record<string, unknown>;
}

/** One attempt's error as the summary shows it (SPEC §15). */
export interface AttemptError {
  attempt: number;
  kind: ErrorKind;
  message: string;
  stack?: string;
  retryDelayMs?: number;
  workerId?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface CostTotals {
  usd: number;
  tokens: { input: number; output: number };
  calls: number;
}

export interface StepSummary {
  id: string;
  status: StepStatus;
  attempts: number;
  durationMs?: number;
  startedAt?: string;
  finishedAt?: string;
  reason?: string;
  continued?: boolean;
  handler?: string;
  service?: string;
  group?: string;
  output?: unknown;
  errors: AttemptError[];
  cost?: CostTotals;
}

/** Limits and committed spend of one budget scope of a run (SPEC §9). */
export interface BudgetScopeSummary {
  scope: 'run' | 'suite';
  /** The suite id, for the suite scope. */
  id?: string;
  limits: { usd?: number; tokens?: number; calls?: number };
  onExceed: 'fail' | 'warn';
  spent: { usd: number; tokens: number; calls: number };
}

/** The JSON summary of SPEC §15. */
export interface RunSummary {
  runId: string;
  scenario: string;
  status: RunStatus;
  reason?: string;
  suite?: string;
  createdAt?: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  cost: CostTotals;
  /** Step costs added up per service (steps that name one). */
  costByService?: Record<string, CostTotals>;
  /** The run's and its suite's budgets, when they have limits. */
  budgets?: BudgetScopeSummary[];
  steps: StepSummary[];
}
