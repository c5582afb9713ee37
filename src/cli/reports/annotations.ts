import type { RunSummary, ScenarioEvent, StepSummary } from '../../engine/types.ts';
import { formatAttemptError, lastError, sanitizeText } from './format.ts';
import { isPassingRun, stepOutcome } from './verdict.ts';

export interface AnnotationOptions {
  /** The scenario file, so GitHub attaches the annotations to it in the diff view. */
  readonly file?: string;
  /** Events seen while waiting; `budget.warning` ones become warnings. */
  readonly events?: readonly ScenarioEvent[];
  /**
   * GitHub shows at most 10 annotations of a level per step; the last one kept says how many were cut.
   * @default 10
   */
  readonly maxPerLevel?: number;
}

type Level = 'error' | 'warning';

/** Escapes a workflow-command message (GitHub: `%`, CR, LF). */
export function escapeAnnotationData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a workflow-command property value (message escaping plus `:` and `,`). */
export function escapeAnnotationProperty(text: string): string {
  return escapeAnnotationData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function command(level: Level, title: string, message: string, file: string | undefined): string {
  const props = [...(file ? [`file=${escapeAnnotationProperty(file)}`] : []), `title=${escapeAnnotationProperty(sanitizeText(title))}`];
  return `::${level} ${props.join(',')}::${escapeAnnotationData(sanitizeText(message))}`;
}

function stepMessage(step: StepSummary): string {
  const last = lastError(step);
  const head = last ? `${last.kind}: ${last.message}` : step.reason ?? step.status;
  if (step.errors.length <= 1) return head;
  return [head, '', ...step.errors.map(formatAttemptError)].join('\n');
}

function budgetMessage(event: ScenarioEvent): string {
  const { message, ...rest } = event.data;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const where = event.stepId ? `step ${event.stepId}: ` : '';
  return `${where}${typeof message === 'string' ? message : 'budget limit reached (onExceed: warn)'}${fields.length ? ` (${fields.join(', ')})` : ''}`;
}

function capped(lines: string[], level: Level, max: number, scenario: string, file: string | undefined): string[] {
  if (lines.length <= max) return lines;
  const cut = lines.length - (max - 1);
  return [...lines.slice(0, max - 1), command(level, `${scenario}: ${cut} more`, `${cut} more ${level}s; see the step summary`, file)];
}

/**
 * GitHub Actions workflow commands for one run: `::error` per failed/timed_out/cancelled step
 * (or for the run when no step carries its verdict), `::warning` per continued failure and budget warning.
 */
export function githubAnnotations(summary: RunSummary, options: AnnotationOptions = {}): string[] {
  const { file, maxPerLevel = 10 } = options;
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const step of summary.steps) {
    const outcome = stepOutcome(step);
    const title = `${summary.scenario} / ${step.id} ${step.status}`;
    if (outcome === 'failed') errors.push(command('error', title, stepMessage(step), file));
    if (outcome === 'continued') warnings.push(command('warning', `${title} (continueOnError)`, stepMessage(step), file));
  }
  if (!isPassingRun(summary.status) && errors.length === 0) {
    errors.push(command('error', `${summary.scenario} ${summary.status}`, `run ${summary.runId} ${summary.status}${summary.reason ? `: ${summary.reason}` : ''}`, file));
  }
  for (const event of options.events ?? []) {
    if (event.type === 'budget.warning' && (event.runId === undefined || event.runId === summary.runId)) {
      warnings.push(command('warning', `${summary.scenario} budget warning`, budgetMessage(event), file));
    }
  }
  return [...capped(errors, 'error', maxPerLevel, summary.scenario, file), ...capped(warnings, 'warning', maxPerLevel, summary.scenario, file)];
}
