/**
 * Retry decisions and delays (SPEC §7). Pure functions of plain data so the math is
 * testable with a seeded `random` and the decision is the same on every worker.
 */
import { isTransientKind, type ErrorKind, type Failure } from '../errors.ts';
import type { BackoffPolicy, RetryPolicy } from '../scenario/types.ts';

/**
 * Upper bound for a server-requested `Retry-After`: a misbehaving server must not park a
 * step for hours (or forever, with an HTTP-date far in the future).
 */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** Kinds `retryOn` is allowed to add on top of the transient ones. */
const OPT_IN_KINDS: readonly ErrorKind[] = ['error'];

/** Delay in integer ms before retry `retryNumber` (n ≥ 1): base delay, capped, then jittered. */
export function retryDelayMs(policy: BackoffPolicy, retryNumber: number, random: () => number = Math.random): number {
  if (!Number.isInteger(retryNumber) || retryNumber < 1) {
    throw new RangeError(`retryNumber must be an integer ≥ 1 (got ${retryNumber})`);
  }
  const base =
    policy.type === 'fixed'
      ? policy.delayMs
      : Math.min(policy.delayMs * policy.multiplier ** (retryNumber - 1), policy.maxDelayMs);
  switch (policy.jitter) {
    case 'none':
      return Math.round(base);
    case 'full':
      return Math.round(random() * base);
    case 'equal':
      return Math.round(base / 2 + (random() * base) / 2);
  }
}

/** Why a failed attempt is final. */
export type NoRetryReason = 'not_retryable' | 'attempts_exhausted';

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number }
  | { readonly retry: false; readonly reason: NoRetryReason; readonly message: string };

/**
 * Decides whether the failed attempt `attempt` (1-based) is retried and after how long.
 * Transient kinds are retried unless the failure itself says otherwise (a group/run
 * timeout is kind `timeout` but not retryable); `error` only when `retryOn` lists it;
 * every other deterministic kind never — a guardrail stop must not be retried around.
 */
export function nextRetry(failure: Failure, attempt: number, policy: RetryPolicy, random: () => number = Math.random): RetryDecision {
  if (!isRetryableFailure(failure, policy.retryOn)) {
    return { retry: false, reason: 'not_retryable', message: `kind "${failure.kind}" is not retried` };
  }
  if (attempt >= policy.attempts) {
    return { retry: false, reason: 'attempts_exhausted', message: `attempts exhausted (${attempt} of ${policy.attempts})` };
  }
  const computed = retryDelayMs(policy.backoff, attempt, random);
  const requested = failure.retryAfterMs === undefined ? 0 : Math.min(Math.max(0, Math.ceil(failure.retryAfterMs)), MAX_RETRY_AFTER_MS);
  return { retry: true, delayMs: Math.max(computed, requested) };
}

function isRetryableFailure(failure: Failure, retryOn: readonly ErrorKind[]): boolean {
  if (isTransientKind(failure.kind)) return failure.retryable !== false;
  return OPT_IN_KINDS.includes(failure.kind) && retryOn.includes(failure.kind);
}

/** Resolves after `ms`; rejects promptly with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
