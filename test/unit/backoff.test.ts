import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_RETRY_AFTER_MS, nextRetry, retryDelayMs, sleep } from '../../src/engine/backoff.ts';
import type { Failure } from '../../src/errors.ts';
import type { BackoffPolicy, RetryPolicy } from '../../src/scenario/types.ts';

const exponential: BackoffPolicy = { type: 'exponential', delayMs: 100, multiplier: 2, maxDelayMs: 1000, jitter: 'none' };
const fixed: BackoffPolicy = { type: 'fixed', delayMs: 250, multiplier: 3, maxDelayMs: 100, jitter: 'none' };

const policy = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({ attempts: 3, backoff: exponential, retryOn: [], ...over });
const failure = (kind: Failure['kind'], over: Partial<Failure> = {}): Failure => ({ kind, message: 'boom', retryable: true, ...over });

describe('retryDelayMs', () => {
  it('grows by the multiplier per retry and caps at maxDelayMs', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(exponential, n))).toEqual([100, 200, 400, 800, 1000]);
  });

  it('uses any multiplier, including fractional ones, rounded to integer ms', () => {
    const p: BackoffPolicy = { ...exponential, delayMs: 100, multiplier: 1.5, maxDelayMs: 10_000 };
    expect([1, 2, 3].map((n) => retryDelayMs(p, n))).toEqual([100, 150, 225]);
    expect(retryDelayMs(p, 4)).toBe(338); // 337.5 rounds up
  });

  it('keeps the fixed delay whatever the retry number, multiplier and cap', () => {
    expect([1, 2, 7].map((n) => retryDelayMs(fixed, n))).toEqual([250, 250, 250]);
  });

  it('full jitter scales the delay by random()', () => {
    const p: BackoffPolicy = { ...exponential, jitter: 'full' };
    expect(retryDelayMs(p, 3, () => 0.25)).toBe(100);
    expect(retryDelayMs(p, 3, () => 0)).toBe(0);
  });

  it('equal jitter keeps half the delay and jitters the other half', () => {
    const p: BackoffPolicy = { ...exponential, jitter: 'equal' };
    expect(retryDelayMs(p, 3, () => 0)).toBe(200);
    expect(retryDelayMs(p, 3, () => 0.5)).toBe(300);
    expect(retryDelayMs(p, 3, () => 0.999)).toBe(400);
  });

  it('jitters after capping', () => {
    const p: BackoffPolicy = { ...exponential, jitter: 'full' };
    expect(retryDelayMs(p, 10, () => 0.5)).toBe(500);
  });

  it('rejects a retry number below 1', () => {
    expect(() => retryDelayMs(exponential, 0)).toThrow('retryNumber must be an integer ≥ 1 (got 0)');
  });
});

describe('nextRetry', () => {
  it('retries transient kinds with the backoff of the failed attempt number', () => {
    expect(nextRetry(failure('server_error'), 1, policy())).toEqual({ retry: true, delayMs: 100 });
    expect(nextRetry(failure('network'), 2, policy())).toEqual({ retry: true, delayMs: 200 });
  });

  it('stops once the attempts are used up', () => {
    expect(nextRetry(failure('transient'), 3, policy())).toEqual({
      retry: false,
      reason: 'attempts_exhausted',
      message: 'attempts exhausted (3 of 3)',
    });
  });

  it.each(['assertion', 'client_error', 'invalid_input', 'invalid_output', 'budget_exceeded', 'credentials_missing', 'circuit_open', 'halted', 'cancelled'] as const)(
    'never retries the deterministic kind %s, even when listed in retryOn',
    (kind) => {
      expect(nextRetry(failure(kind), 1, policy({ retryOn: [kind] }))).toMatchObject({ retry: false, reason: 'not_retryable' });
    },
  );

  it('retries `error` only when retryOn lists it', () => {
    const unclassified = failure('error', { retryable: false });
    expect(nextRetry(unclassified, 1, policy())).toMatchObject({ retry: false, reason: 'not_retryable' });
    expect(nextRetry(unclassified, 1, policy({ retryOn: ['error'] }))).toEqual({ retry: true, delayMs: 100 });
  });

  it('does not retry a transient kind the failure marks non-retryable (a run deadline)', () => {
    expect(nextRetry(failure('timeout', { retryable: false }), 1, policy())).toMatchObject({ retry: false, reason: 'not_retryable' });
  });

  it('honours Retry-After when it is longer than the backoff', () => {
    expect(nextRetry(failure('rate_limited', { retryAfterMs: 5000 }), 1, policy())).toEqual({ retry: true, delayMs: 5000 });
    expect(nextRetry(failure('rate_limited', { retryAfterMs: 10 }), 1, policy())).toEqual({ retry: true, delayMs: 100 });
  });

  it('caps Retry-After at MAX_RETRY_AFTER_MS', () => {
    expect(nextRetry(failure('rate_limited', { retryAfterMs: 86_400_000 }), 1, policy())).toEqual({ retry: true, delayMs: MAX_RETRY_AFTER_MS });
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves after the given time and not before', async () => {
    vi.useFakeTimers();
    let done = false;
    const p = sleep(1000).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
  });

  it('rejects promptly with the signal reason when aborted', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const p = sleep(60_000, controller.signal);
    const reason = new Error('cancelled by test');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const reason = new Error('already');
    await expect(sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});
