import type { RunSummary, StepSummary } from '../../engine/types.ts';
import { formatAttemptError, formatCost, formatDuration, lastError, oneLine, truncate } from './format.ts';
import { countOutcomes, isPassingRun, sharedSuite, stepOutcome, worstRunStatus } from './verdict.ts';

export { githubAnnotations, type AnnotationOptions } from './annotations.ts';

const CELL_MAX = 120;

/**
 * Makes untrusted text inert inside a GitHub Markdown table cell: one line, ANSI codes
 * stripped, and every character that could start markup, math (`$`) or end the cell backslash-escaped.
 */
export function escapeMarkdown(text: string): string {
  return oneLine(text).replace(/[\\`*_[\]<>|~&#!$]/g, (c) => `\\${c}`);
}

function badge(status: string): string {
  return `**${escapeMarkdown(status.toUpperCase())}**`;
}

// Passing steps show nothing here: their retries are listed under the table.
function detailCell(step: StepSummary): string {
  const outcome = stepOutcome(step);
  const last = lastError(step);
  if (outcome === 'passed' || !last) return step.reason && outcome !== 'passed' ? escapeMarkdown(step.reason) : '';
  const text = escapeMarkdown(truncate(oneLine(`${last.kind}: ${last.message}`), CELL_MAX));
  return outcome === 'continued' ? `${text} (continued)` : text;
}

function statusCell(step: StepSummary): string {
  return stepOutcome(step) === 'failed' ? badge(step.status) : escapeMarkdown(step.status);
}

function stepTable(summary: RunSummary): string[] {
  const rows = summary.steps.map(
    (s) => `| ${escapeMarkdown(s.id)} | ${statusCell(s)} | ${s.attempts} | ${formatDuration(s.durationMs)} | ${detailCell(s)} |`,
  );
  return ['| Step | Status | Attempts | Duration | Details |', '| --- | --- | ---: | ---: | --- |', ...rows];
}

function retryList(summary: RunSummary): string[] {
  const lines: string[] = [];
  for (const step of summary.steps) {
    for (const error of step.errors.filter((e) => e.attempt < step.attempts)) {
      lines.push(`- ${escapeMarkdown(step.id)}: ${escapeMarkdown(truncate(oneLine(formatAttemptError(error)), CELL_MAX * 2))}`);
    }
  }
  return lines.length > 0 ? ['', `Retries (${lines.length}):`, '', ...lines] : [];
}

function verdictLine(summary: RunSummary): string {
  const c = countOutcomes(summary);
  const counts = [`${c.passed} passed`, `${c.failed} failed`, `${c.skipped} skipped`];
  if (c.continued) counts.push(`${c.continued} continued`);
  if (c.pending) counts.push(`${c.pending} not finished`);
  return [
    badge(summary.status),
    `run \`${summary.runId}\``,
    formatDuration(summary.durationMs),
    escapeMarkdown(formatCost(summary.cost)),
    `steps: ${counts.join(', ')}`,
  ].join(' · ');
}

function runSection(summary: RunSummary, heading: string): string[] {
  const lines = [`${heading} ${escapeMarkdown(summary.scenario)}`, '', verdictLine(summary)];
  if (summary.reason) lines.push('', `Reason: ${escapeMarkdown(summary.reason)}`);
  if (summary.steps.length > 0) lines.push('', ...stepTable(summary));
  lines.push(...retryList(summary));
  return lines;
}

/** GitHub step-summary Markdown (`$GITHUB_STEP_SUMMARY`): one section per run, a suite header when several. */
export function toMarkdown(summaries: readonly RunSummary[]): string {
  if (summaries.length === 1) return `${runSection(summaries[0], '##').join('\n')}\n`;
  const status = worstRunStatus(summaries.map((s) => s.status));
  const passing = summaries.filter((s) => isPassingRun(s.status)).length;
  const suite = sharedSuite(summaries);
  const title = suite ? `suite ${escapeMarkdown(suite)}` : 'suite';
  const lines = [`## scenario-queue ${title}`, '', `${badge(status)} · ${passing} of ${summaries.length} runs passed`];
  for (const summary of summaries) lines.push('', ...runSection(summary, '###'));
  return `${lines.join('\n')}\n`;
}
