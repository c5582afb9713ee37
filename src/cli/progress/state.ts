import type { EventType, RunStatus, ScenarioEvent, StepStatus } from '../../engine/types.ts';
import { TERMINAL_STEP_STATUSES } from '../../engine/types.ts';

/** What the progress view knows about one step, folded from its events. */
export interface StepView {
  id: string;
  status: StepStatus;
  /** The attempt in flight (or the last one). */
  attempt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Short note: last error kind and retry delay, skip reason. */
  note?: string;
}

/** What the progress view knows about one run. */
export interface RunView {
  runId: string;
  scenario: string;
  status: RunStatus;
  startedAt?: number;
  finishedAt?: number;
  steps: StepView[];
}

/** A run with its steps pending, in file order. */
export function createRunView(runId: string, scenario: string, stepIds: readonly string[]): RunView {
  return { runId, scenario, status: 'queued', steps: stepIds.map((id) => ({ id, status: 'pending', attempt: 0 })) };
}

function stepOf(run: RunView, id: string): StepView {
  let step = run.steps.find((s) => s.id === id);
  if (!step) {
    // Events may name steps the caller did not list (e.g. a scenario changed since); show them anyway.
    step = { id, status: 'pending', attempt: 0 };
    run.steps.push(step);
  }
  return step;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

const STEP_EVENT_STATUS: Partial<Record<EventType, StepStatus>> = {
  'step.queued': 'queued',
  'step.started': 'running',
  'step.retrying': 'retrying',
  'step.succeeded': 'succeeded',
  'step.failed': 'failed',
  'step.timed_out': 'timed_out',
  'step.skipped': 'skipped',
  'step.cancelled': 'cancelled',
};

const RUN_EVENT_STATUS: Partial<Record<EventType, RunStatus>> = {
  'run.queued': 'queued',
  'run.started': 'running',
  'run.succeeded': 'succeeded',
  'run.failed': 'failed',
  'run.timed_out': 'timed_out',
  'run.cancelled': 'cancelled',
  'run.halted': 'halted',
  'run.skipped': 'skipped',
};

function applyStepEvent(step: StepView, status: StepStatus, event: ScenarioEvent): void {
  const data = event.data ?? {};
  step.status = status;
  if (event.attempt !== undefined) step.attempt = event.attempt;
  if (status === 'running') {
    step.startedAt ??= event.ts;
    step.note = undefined;
  } else if (status === 'retrying') {
    step.attempt = (event.attempt ?? step.attempt) + 1;
    const delay = typeof data.delayMs === 'number' ? `, retry in ${data.delayMs}ms` : '';
    step.note = `${text(data.kind) ?? 'error'}${delay}`;
  } else if (TERMINAL_STEP_STATUSES.includes(status)) {
    step.finishedAt = event.ts;
    const notes = [text(data.kind), text(data.reason), data.continued === true ? 'continued' : undefined];
    step.note = notes.filter((n) => n !== undefined).join(', ') || undefined;
  }
}

/** Folds one event into the view; events of other runs, and budget/circuit/halt events, leave it as is. */
export function applyEvent(run: RunView, event: ScenarioEvent): void {
  if (event.runId !== undefined && event.runId !== run.runId) return;
  const stepStatus = STEP_EVENT_STATUS[event.type];
  if (stepStatus && event.stepId) {
    applyStepEvent(stepOf(run, event.stepId), stepStatus, event);
    return;
  }
  const runStatus = RUN_EVENT_STATUS[event.type];
  if (!runStatus) return;
  run.status = runStatus;
  if (runStatus === 'running') run.startedAt ??= event.ts;
  else if (runStatus !== 'queued') run.finishedAt = event.ts;
}
