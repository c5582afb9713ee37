import type { ScenarioEvent } from '../../engine/types.ts';
import { oneLine, truncate } from '../reports/format.ts';

export interface EventLineOptions {
  /** Shown as `[label]` after the time; used to tell runs of a suite apart. */
  readonly label?: string;
  /**
   * Longest `message` value before it is cut.
   * @default 200
   */
  readonly messageMax?: number;
}

// Fields users scan for first; `message` goes last because it is the longest.
const LEADING_FIELDS = ['kind', 'delayMs', 'reason', 'continued'];
const BARE_VALUE = /^[\w.:/@+-]+$/;

/** Local wall-clock time with milliseconds: `12:00:01.234`. */
export function formatClock(ts: number): string {
  const d = new Date(ts);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

// Numbers, booleans and JSON objects print bare; strings are quoted unless they are one plain word.
function formatValue(value: unknown, max: number): string {
  if (typeof value !== 'string') return truncate(JSON.stringify(value) ?? String(value), max);
  return BARE_VALUE.test(value) ? value : JSON.stringify(truncate(oneLine(value), max));
}

function orderedKeys(data: Record<string, unknown>): string[] {
  const keys = Object.keys(data).filter((k) => data[k] !== undefined && data[k] !== null);
  const leading = LEADING_FIELDS.filter((k) => keys.includes(k));
  const rest = keys.filter((k) => !LEADING_FIELDS.includes(k) && k !== 'message').sort();
  return [...leading, ...rest, ...(keys.includes('message') ? ['message'] : [])];
}

/** One event as one log line: `12:00:01.234 step.retrying login attempt=1 kind=server_error delayMs=1000`. */
export function formatEventLine(event: ScenarioEvent, options: EventLineOptions = {}): string {
  const max = options.messageMax ?? 200;
  const parts = [formatClock(event.ts)];
  if (options.label) parts.push(`[${options.label}]`);
  parts.push(event.type);
  if (event.stepId) parts.push(event.stepId);
  if (event.attempt !== undefined) parts.push(`attempt=${event.attempt}`);
  for (const key of orderedKeys(event.data ?? {})) parts.push(`${key}=${formatValue(event.data[key], max)}`);
  return parts.join(' ');
}
