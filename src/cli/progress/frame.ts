import { paintStatus, type Palette } from '../reports/color.ts';
import { formatDuration, oneLine, stripAnsi, truncate } from '../reports/format.ts';
import { formatTable, visibleWidth } from '../reports/table.ts';
import type { RunView, StepView } from './state.ts';

export interface FrameOptions {
  /** Current time in ms, for the elapsed time of steps still running. */
  readonly now: number;
  readonly palette: Palette;
  /** Terminal width; longer lines are cut so that cursor movement stays exact. */
  readonly columns?: number;
  /** Terminal height; taller frames collapse finished steps so the redraw stays on screen. */
  readonly rows?: number;
  /** The triage hint, shown under the tables. */
  readonly hint?: string;
}

// Steps that say nothing new while the frame is too tall for the terminal.
const QUIET = new Set(['succeeded', 'reused', 'pending', 'skipped']);

function elapsed(from: number | undefined, to: number | undefined, now: number): string {
  return from === undefined ? '-' : formatDuration(Math.max(0, (to ?? now) - from));
}

function stepRow(step: StepView, options: FrameOptions): string[] {
  const p = options.palette;
  return [step.id, paintStatus(p, step.status), step.attempt > 0 ? String(step.attempt) : '-', elapsed(step.startedAt, step.finishedAt, options.now), p.dim(step.note ?? '')];
}

function hiddenSummary(hidden: StepView[]): string {
  const counts = new Map<string, number>();
  for (const s of hidden) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  return `… ${hidden.length} more (${[...counts].map(([status, n]) => `${n} ${status}`).join(', ')})`;
}

function runLines(run: RunView, options: FrameOptions, collapse: boolean): string[] {
  const p = options.palette;
  const header = `${p.bold(run.scenario)}  ${run.runId}  ${paintStatus(p, run.status)}  ${elapsed(run.startedAt, run.finishedAt, options.now)}`;
  const shown = collapse ? run.steps.filter((s) => !QUIET.has(s.status)) : run.steps;
  const head = ['step', 'status', 'attempt', 'elapsed', ''].map((h) => p.dim(h));
  const table = formatTable([head, ...shown.map((s) => stepRow(s, options))], '  ');
  const hidden = run.steps.length - shown.length;
  if (hidden > 0) table.push(`  ${p.dim(hiddenSummary(run.steps.filter((s) => QUIET.has(s.status))))}`);
  return [header, ...table];
}

function fit(line: string, columns: number | undefined): string {
  if (!columns || visibleWidth(line) < columns) return line;
  // Cutting through ANSI codes is unsafe; a cut line loses its colors instead.
  return truncate(stripAnsi(line), columns - 1);
}

/** The lines of one TTY frame: per run a header and step table, then the hint. */
export function renderFrame(runs: readonly RunView[], options: FrameOptions): string[] {
  const hint = options.hint ? [options.palette.yellow(`hint: ${oneLine(options.hint)}`)] : [];
  let lines = [...runs.flatMap((r) => runLines(r, options, false)), ...hint];
  if (options.rows && lines.length >= options.rows) {
    lines = [...runs.flatMap((r) => runLines(r, options, true)), ...hint];
    if (lines.length >= options.rows) lines = [...lines.slice(0, Math.max(1, options.rows - 2)), '…'];
  }
  return lines.map((l) => fit(l, options.columns));
}
