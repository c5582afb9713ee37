import type { CostTotals } from '../engine/types.ts';
import type { Usage } from '../handlers/types.ts';
import type { Logger } from '../observability/logger.ts';

/** What is known about an attempt when it starts. */
export interface AttemptStart {
  readonly scenario: string;
  readonly handler: string;
  readonly service?: string;
  /** Runs mocked because a credential gate with `mock` found credentials missing (not `--mock`). */
  readonly gatedMock?: boolean;
}

/** What is known about an attempt when it ends. */
export interface AttemptEnd {
  readonly ok: boolean;
  /** Error kind of a failed attempt. */
  readonly kind?: string;
  readonly durationMs: number;
  /** The attempt's usage: what the guard committed when it reports it, else what the handler reported. */
  readonly cost: CostTotals;
}

/**
 * Watches attempts and BullMQ housekeeping in one worker (metrics, tracing). Called inline on
 * the hot path, so implementations must be synchronous and cheap; a throw is logged and ignored.
 */
export interface WorkerObserver {
  /** Returns the function to call exactly once when the attempt ends. */
  attemptStarted(start: AttemptStart): (end: AttemptEnd) => void;
  /** The guard put the job back without starting an attempt (`rate_limited`, `concurrency`, `circuit_open`, …). */
  attemptWaited(start: AttemptStart, reason: string): void;
  /** BullMQ's stalled checker of this worker moved a job whose lock had expired back to wait. */
  jobStalled(queue: string): void;
}

/** Adds up what handlers reported with `ctx.reportUsage`. */
export function usageTotals(usage: readonly Usage[]): CostTotals {
  const total: CostTotals = { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 };
  for (const u of usage) {
    total.usd += u.usd ?? 0;
    total.tokens.input += u.tokens?.input ?? 0;
    total.tokens.output += u.tokens?.output ?? 0;
    total.calls += u.calls ?? 0;
  }
  return total;
}

/** Starts observing one attempt; the returned function never throws and acts once. `log` is asked for only to report a throw. */
export function observeAttempt(observer: WorkerObserver | undefined, start: AttemptStart, log: () => Logger): (end: AttemptEnd) => void {
  if (!observer) return () => {};
  let end: ((end: AttemptEnd) => void) | undefined;
  try {
    end = observer.attemptStarted(start);
  } catch (err) {
    log().warn({ err }, 'attempt observer threw');
  }
  return (info) => {
    const fn = end;
    end = undefined;
    try {
      fn?.(info);
    } catch (err) {
      log().warn({ err }, 'attempt observer threw');
    }
  };
}

/** Tells the observer that the guard held an attempt back; never throws. */
export function observeWait(observer: WorkerObserver | undefined, start: AttemptStart, reason: string, log: Logger): void {
  try {
    observer?.attemptWaited(start, reason);
  } catch (err) {
    log.warn({ err }, 'attempt observer threw');
  }
}
