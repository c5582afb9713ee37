import type { RunStatus, StepStatus } from '../../engine/types.ts';

/** Wraps text in an ANSI style, or leaves it alone when colors are off. */
export type Paint = (text: string) => string;

/** The few styles reports and progress use; all identity functions when colors are off. */
export interface Palette {
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
  dim: Paint;
  bold: Paint;
}

const style = (open: number, close: number): Paint => (text) => (text === '' ? '' : `\u001b[${open}m${text}\u001b[${close}m`);
const plain: Paint = (text) => text;

/** A palette with ANSI colors when `enabled`, plain text otherwise. */
export function createPalette(enabled: boolean): Palette {
  if (!enabled) return { red: plain, green: plain, yellow: plain, cyan: plain, dim: plain, bold: plain };
  return { red: style(31, 39), green: style(32, 39), yellow: style(33, 39), cyan: style(36, 39), dim: style(2, 22), bold: style(1, 22) };
}

/** Colors only on a TTY, never with `NO_COLOR` (no-color.org), always with `FORCE_COLOR` (not `0`). */
export function shouldColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  return stream.isTTY === true;
}

/** The color a status is shown in: green done, red failed, yellow skipped/cancelled, cyan in flight. */
export function paintStatus(palette: Palette, status: StepStatus | RunStatus): string {
  switch (status) {
    case 'succeeded':
    case 'reused':
      return palette.green(status);
    case 'failed':
    case 'timed_out':
    case 'halted':
      return palette.red(status);
    case 'skipped':
    case 'cancelled':
      return palette.yellow(status);
    case 'running':
    case 'retrying':
    case 'queued':
      return palette.cyan(status);
    default:
      return palette.dim(status);
  }
}
