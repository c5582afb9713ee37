/** Order statistics for benchmark samples. */

/** The q-quantile (0..1) by linear interpolation between closest ranks; NaN when empty. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export const median = (samples: readonly number[]): number => quantile(samples, 0.5);

/** p50/p95/p99/max/mean of latency samples in ms, rounded to µs. */
export function latencySummary(samples: readonly number[]) {
  const mean = samples.reduce((a, b) => a + b, 0) / (samples.length || 1);
  return {
    samples: samples.length,
    p50Ms: round(quantile(samples, 0.5), 3),
    p95Ms: round(quantile(samples, 0.95), 3),
    p99Ms: round(quantile(samples, 0.99), 3),
    maxMs: round(quantile(samples, 1), 3),
    meanMs: round(mean, 3),
  };
}

/** Rounds to `digits` decimals (keeps JSON and tables readable). */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** a / b rounded, or null when b is 0 (a ratio that cannot be formed is not a number). */
export function ratio(a: number, b: number, digits = 2): number | null {
  return b === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? null : round(a / b, digits);
}
