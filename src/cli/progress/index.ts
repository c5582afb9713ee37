import type { ScenarioEvent } from '../../engine/types.ts';
import { createPalette, shouldColor } from '../reports/color.ts';
import { renderFrame } from './frame.ts';
import { formatClock, formatEventLine } from './line.ts';
import { applyEvent, createRunView, type RunView } from './state.ts';

export { formatEventLine, formatClock, type EventLineOptions } from './line.ts';

/** What the progress view is told while `run --wait` waits. */
export interface Progress {
  onEvent(event: ScenarioEvent): void;
  /** A triage hint (no live workers…); a TTY keeps the latest under the tables, `''` clears it. */
  onHint(text: string): void;
  /** Stops redrawing and leaves the final state on screen. Idempotent. */
  done(): void;
}

/** One run of a suite as the progress view shows it. */
export interface ProgressRun {
  readonly runId: string;
  readonly scenario: string;
  /** Step ids in file order. */
  readonly steps: readonly string[];
}

interface CommonOptions {
  /** Redraw a table in place (TTY) or print one line per event. */
  readonly tty: boolean;
  readonly stream: NodeJS.WritableStream;
  /** @default shouldColor(stream) when `tty`, else false */
  readonly color?: boolean;
  /**
   * Minimum time between two redraws in a TTY.
   * @default 100
   */
  readonly throttleMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface ProgressOptions extends CommonOptions, ProgressRun {}

export interface SuiteProgressOptions extends CommonOptions {
  readonly runs: readonly ProgressRun[];
}

/** A suite's progress: events are routed by `runId`; `forRun` gives one run's own handle. */
export interface SuiteProgress extends Progress {
  /** A handle whose events count for `runId` even when they carry no run id; its `done` ends the view once every run is done. */
  forRun(runId: string): Progress;
}

// Escape sequences of the in-place redraw.
const CURSOR_UP = (n: number) => `\u001b[${n}A`;
const ERASE_LINE = '\u001b[2K';
const ERASE_DOWN = '\u001b[J';
const TICK_MS = 1000;

/** Live progress of one run on stderr (SPEC §15). */
export function createProgress(options: ProgressOptions): Progress {
  const { runId, scenario, steps, ...common } = options;
  return createSuiteProgress({ ...common, runs: [{ runId, scenario, steps }] });
}

function labels(runs: readonly ProgressRun[]): Map<string, string> {
  const out = new Map<string, string>();
  if (runs.length < 2) return out;
  const names = runs.map((r) => r.scenario);
  for (const r of runs) out.set(r.runId, names.filter((n) => n === r.scenario).length > 1 ? r.runId : r.scenario);
  return out;
}

/** Live progress of several runs at once: one table per run in a TTY, labelled lines otherwise. */
export function createSuiteProgress(options: SuiteProgressOptions): SuiteProgress {
  const { tty, stream } = options;
  const now = options.now ?? Date.now;
  const throttleMs = options.throttleMs ?? 100;
  const palette = createPalette(options.color ?? (tty && shouldColor({ isTTY: true })));
  const views = new Map<string, RunView>(options.runs.map((r) => [r.runId, createRunView(r.runId, r.scenario, r.steps)]));
  const label = labels(options.runs);
  const finished = new Set<string>();
  let hint: string | undefined;
  let drawnLines = 0;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let closed = false;

  const draw = () => {
    timer = undefined;
    lastDraw = now();
    const term = stream as NodeJS.WritableStream & { columns?: number; rows?: number };
    const lines = renderFrame([...views.values()], { now: lastDraw, palette, hint, columns: term.columns, rows: term.rows });
    const up = drawnLines > 0 ? CURSOR_UP(drawnLines) : '';
    stream.write(`${up}\r${lines.map((l) => `${ERASE_LINE}${l}\n`).join('')}${ERASE_DOWN}`);
    drawnLines = lines.length;
  };

  // At most one redraw per throttle window; bursts of events collapse into it.
  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(draw, Math.max(0, lastDraw + throttleMs - now()));
    timer.unref?.();
  };

  const viewFor = (runId: string | undefined): RunView | undefined => {
    if (runId === undefined) return views.size === 1 ? [...views.values()][0] : undefined;
    return views.get(runId);
  };

  const onEvent = (event: ScenarioEvent, runId = event.runId) => {
    if (closed) return;
    const view = viewFor(runId);
    if (!tty) {
      stream.write(`${formatEventLine(event, { label: runId ? label.get(runId) : undefined })}\n`);
      return;
    }
    if (!view) return;
    applyEvent(view, { ...event, runId: view.runId });
    schedule();
  };

  const onHint = (text: string) => {
    if (closed) return;
    if (!tty) {
      if (text === '') return;
      const at = formatClock(now());
      for (const line of text.split(/\r?\n/)) stream.write(`${at} hint ${line}\n`);
      return;
    }
    hint = text === '' ? undefined : text;
    schedule();
  };

  const done = () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    if (ticker) clearInterval(ticker);
    if (tty) draw();
  };

  if (tty) {
    // Elapsed times tick even when no event arrives.
    ticker = setInterval(schedule, TICK_MS);
    ticker.unref?.();
    schedule();
  }

  return {
    onEvent: (event) => onEvent(event),
    onHint,
    done,
    forRun(runId) {
      if (!views.has(runId)) throw new Error(`progress: unknown run "${runId}" (known: ${[...views.keys()].join(', ')})`);
      return {
        onEvent: (event) => onEvent(event, runId),
        onHint,
        done() {
          finished.add(runId);
          if (finished.size === views.size) done();
        },
      };
    },
  };
}
