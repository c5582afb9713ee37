import type { RunSummary, StepSummary } from '../../engine/types.ts';
import { createPalette, paintStatus, type Palette } from './color.ts';
import { formatCost, formatDuration, lastError, oneLine, truncate } from './format.ts';
import { formatTable } from './table.ts';
import { countOutcomes, isPassingRun, sharedSuite, stepOutcome, worstRunStatus } from './verdict.ts';

export interface TextOptions {
  /**
   * ANSI colors; decide with `shouldColor(process.stdout)` so `NO_COLOR` and pipes get plain text.
   * @default false
   */
  readonly color?: boolean;
  /**
   * Longest error message shown in the step table.
   * @default 100
   */
  readonly messageMax?: number;
}

// Passing steps show nothing here: their retries are listed under the table.
function detailCell(step: StepSummary, max: number, p: Palette): string {
  const outcome = stepOutcome(step);
  const last = lastError(step);
  if (outcome === 'passed' || !last) return step.reason && outcome !== 'passed' ? p.dim(step.reason) : '';
  const text = truncate(oneLine(`${last.kind}: ${last.message}`), max);
  return stepOutcome(step) === 'continued' ? `${text} ${p.dim('(continued)')}` : text;
}

function verdict(summary: RunSummary, p: Palette): string {
  const c = countOutcomes(summary);
  const label = isPassingRun(summary.status) ? p.green(p.bold(summary.status.toUpperCase())) : p.red(p.bold(summary.status.toUpperCase()));
  const counts = [`${c.passed} passed`, c.failed ? p.red(`${c.failed} failed`) : '0 failed', `${c.skipped} skipped`];
  if (c.continued) counts.push(p.yellow(`${c.continued} continued`));
  if (c.pending) counts.push(`${c.pending} not finished`);
  return `${label}  ${p.bold(summary.scenario)}  run ${summary.runId}  ${formatDuration(summary.durationMs)}  ${counts.join(', ')}`;
}

function retryLines(summary: RunSummary): string[] {
  const rows: string[][] = [];
  for (const step of summary.steps) {
    for (const e of step.errors.filter((err) => err.attempt < step.attempts)) {
      const delay = e.retryDelayMs !== undefined ? `retried after ${formatDuration(e.retryDelayMs)}` : '';
      rows.push([step.id, `attempt ${e.attempt}`, e.kind, truncate(oneLine(e.message), 80), delay]);
    }
  }
  return rows.length > 0 ? ['  retries:', ...formatTable(rows, '    ')] : [];
}

function runBlock(summary: RunSummary, options: TextOptions, p: Palette): string[] {
  const max = options.messageMax ?? 100;
  const lines = [verdict(summary, p)];
  if (summary.reason) lines.push(`  reason: ${oneLine(summary.reason)}`);
  lines.push(`  cost: ${formatCost(summary.cost)}`);
  if (summary.steps.length > 0) {
    const header = ['step', 'status', 'attempts', 'duration', 'details'].map((h) => p.dim(h));
    const rows = summary.steps.map((s) => [s.id, paintStatus(p, s.status), String(s.attempts), formatDuration(s.durationMs), detailCell(s, max, p)]);
    lines.push('', ...formatTable([header, ...rows], '  '));
  }
  lines.push(...retryLines(summary));
  return lines;
}

/** The human summary `run --wait` prints on stdout: per run a verdict, cost, step table and retries. */
export function toText(summaries: readonly RunSummary[], options: TextOptions = {}): string {
  const p = createPalette(options.color ?? false);
  const blocks = summaries.map((s) => runBlock(s, options, p).join('\n'));
  if (summaries.length > 1) {
    const status = worstRunStatus(summaries.map((s) => s.status));
    const passing = summaries.filter((s) => isPassingRun(s.status)).length;
    const suite = sharedSuite(summaries);
    const paint = isPassingRun(status) ? p.green : p.red;
    blocks.push(`${suite ? `suite ${suite}` : 'suite'}: ${paint(p.bold(status.toUpperCase()))}  ${passing} of ${summaries.length} runs passed`);
  }
  return `${blocks.join('\n\n')}\n`;
}
