/** What every benchmark item gets, and the goal record every item reports. */
import type { BenchOptions } from './options.ts';
import type { BenchRedis } from './redis.ts';

export interface BenchContext {
  readonly options: BenchOptions;
  readonly redis: BenchRedis;
  /** One progress line on stderr. */
  progress(message: string): void;
}

/** A goal from issue #7 and whether this run met it (null: not measured). */
export interface Goal {
  item: string;
  metric: string;
  value: number | null;
  /** Human form of the target, e.g. "≥ 0.6". */
  target: string;
  met: boolean | null;
}

/** Builds a goal record; `value` null (not measured) leaves `met` null. */
export function goal(item: string, metric: string, value: number | null, op: '≥' | '≤', bound: number): Goal {
  const met = value === null ? null : op === '≥' ? value >= bound : value <= bound;
  return { item, metric, value, target: `${op} ${bound}`, met };
}
