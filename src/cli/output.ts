import { appendFile } from 'node:fs/promises';
import type { RunSummary, ScenarioEvent } from '../engine/types.ts';
import { createSuiteProgress, type Progress, type ProgressRun } from './progress/index.ts';
import { shouldColor } from './reports/color.ts';
import { toJsonReport } from './reports/json.ts';
import { githubAnnotations, toMarkdown } from './reports/markdown.ts';
import { toText } from './reports/text.ts';
import { isPassingRun } from './reports/verdict.ts';
import { EXIT } from './errors.ts';

/** Live progress on stderr: a redrawn table in a TTY, one line per event otherwise. */
export function startProgress(runs: readonly ProgressRun[]): Progress {
  return createSuiteProgress({ tty: Boolean(process.stderr.isTTY), stream: process.stderr, runs });
}

/** The summary on stdout: JSON only with --json, else the human report. */
export function printSummaries(summaries: readonly RunSummary[], options: { json?: boolean; suite?: string }): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(toJsonReport(summaries))}\n`);
    return;
  }
  process.stdout.write(`${toText(summaries, { color: shouldColor(process.stdout) })}\n`);
}

export interface CiReportOptions {
  readonly json?: boolean;
  /** Events seen while waiting; `budget.warning` ones become `::warning` annotations. */
  readonly events?: readonly ScenarioEvent[];
  /** The scenario file of each run id, so GitHub attaches the annotations to it. */
  readonly files?: ReadonlyMap<string, string>;
}

/** Inside GitHub Actions: a Markdown job summary and ::error / ::warning annotations. */
export async function publishCiReports(summaries: readonly RunSummary[], options: CiReportOptions): Promise<void> {
  if (!process.env.GITHUB_ACTIONS) return;
  const file = process.env.GITHUB_STEP_SUMMARY;
  if (file) await appendFile(file, `${toMarkdown(summaries)}\n`);
  // Annotations are workflow commands; with --json stdout must stay pure JSON, and the runner reads stderr too.
  const out = options.json ? process.stderr : process.stdout;
  for (const summary of summaries) {
    const lines = githubAnnotations(summary, { events: options.events, file: options.files?.get(summary.runId) });
    for (const line of lines) out.write(`${line}\n`);
  }
}

/** The worst verdict decides: 0 when every run succeeded (or was skipped), else 1. */
export function exitCodeOf(summaries: readonly RunSummary[]): number {
  return summaries.every((s) => isPassingRun(s.status)) ? EXIT.ok : EXIT.notSucceeded;
}
