import { afterEach, describe, expect, it, vi } from 'vitest';
import { isScenarioError, toFailure } from '../../src/errors.ts';
import { echo } from '../../src/handlers/builtin/echo.ts';
import { fault } from '../../src/handlers/builtin/fault.ts';
import { noop } from '../../src/handlers/builtin/noop.ts';
import { sleep } from '../../src/handlers/builtin/sleep.ts';
import type { HandlerContext } from '../../src/handlers/types.ts';
import { testContext } from '../support/handler-context.ts';


/** Runs `fault` for one attempt and returns its output or its classified failure. */
async function faultAttempt(raw: unknown, attempt: number, over: Partial<HandlerContext> = {}) {
  try {
    return { output: await fault.run(fault.input.parse(raw), testContext({ attempt, ...over })) };
  } catch (e) {
    return { failure: toFailure(e) };
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('noop handler', () => {
  it('returns null whatever its input', async () => {
    expect(await noop.run(noop.input.parse({ any: 'thing' }), testContext())).toBeNull();
  });
});

describe('echo handler', () => {
  it('returns its input unchanged', async () => {
    const input = { a: [1, { b: 'c' }], n: null };
    expect(await echo.run(echo.input.parse(input), testContext())).toEqual(input);
  });
});

describe('sleep handler', () => {
  it('resolves with null after ms', async () => {
    vi.useFakeTimers();
    let done = false;
    const p = Promise.resolve(sleep.run({ ms: 500 }, testContext())).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
  });

  it('rejects promptly with the signal reason when aborted', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const p = sleep.run({ ms: 3_600_000 }, testContext({ signal: controller.signal }));
    const reason = new Error('step cancelled');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects a negative ms at input validation', () => {
    expect(() => sleep.input.parse({ ms: -1 })).toThrow();
  });
});

describe('fault handler', () => {
  it('fails attempts 1..failTimes with a retryable transient fault, then returns output', async () => {
    const input = { failTimes: 2, output: { ok: true } };
    expect(await faultAttempt(input, 1)).toEqual({
      failure: expect.objectContaining({ kind: 'transient', retryable: true, message: 'fault injected (attempt 1)' }),
    });
    expect((await faultAttempt(input, 2)).failure?.message).toBe('fault injected (attempt 2)');
    expect(await faultAttempt(input, 3)).toEqual({ output: { ok: true } });
  });

  it('succeeds with null when given nothing', async () => {
    expect(await faultAttempt({}, 1)).toEqual({ output: null });
  });

  it('always fails when a kind is given without failTimes', async () => {
    expect((await faultAttempt({ kind: 'server_error' }, 99)).failure).toMatchObject({ kind: 'server_error', retryable: true });
  });

  it('makes deterministic kinds non-retryable and uses the given message', async () => {
    expect((await faultAttempt({ kind: 'assertion', message: 'nope', failTimes: 1 }, 1)).failure).toMatchObject({
      kind: 'assertion',
      retryable: false,
      message: 'nope',
    });
  });

  it('throws a ScenarioError so the kind survives toFailure', async () => {
    const err = await Promise.resolve()
      .then(() => fault.run(fault.input.parse({ kind: 'network' }), testContext()))
      .catch((e: unknown) => e);
    expect(isScenarioError(err)).toBe(true);
  });

  it('rejects an unknown kind at input validation', () => {
    expect(() => fault.input.parse({ kind: 'explode' })).toThrow();
  });

  it('hangs for hangMs, then decides', async () => {
    vi.useFakeTimers();
    let settled = false;
    const p = faultAttempt({ hangMs: 1000, failTimes: 0, output: 'late' }, 1).then((r) => {
      settled = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await p).toEqual({ output: 'late' });
  });

  it('stops hanging with the abort reason when the signal aborts', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const p = fault.run(fault.input.parse({ hangMs: 60_000 }), testContext({ signal: controller.signal }));
    const reason = new Error('attempt timed out');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it('keeps hanging after abort when ignoreAbort is set, then fails as configured', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let settled = false;
    const p = faultAttempt({ hangMs: 5000, ignoreAbort: true, kind: 'transient' }, 1, { signal: controller.signal }).then((r) => {
      settled = true;
      return r;
    });
    controller.abort(new Error('ignored'));
    await vi.advanceTimersByTimeAsync(4999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await p).failure).toMatchObject({ kind: 'transient', message: 'fault injected (attempt 1)' });
  });
});
