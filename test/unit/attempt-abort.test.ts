import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineHandler } from '../../src/handlers/define.ts';
import type { HandlerContext } from '../../src/handlers/types.ts';
import { AttemptAbort, runAttempt, type Deadline } from '../../src/worker/attempt.ts';

const log = pino({ level: 'silent' });
const context = (abort: AttemptAbort): HandlerContext => ({ get signal() { return abort.signal; } }) as unknown as HandlerContext;
const never: Deadline[] = [{ level: 'attempt', at: Date.now() + 60_000, limitMs: 60_000 }];

describe('AttemptAbort: an AbortSignal only for handlers that ask for one', () => {
  it('a signal asked for after the abort is already aborted, with the reason', () => {
    const abort = new AttemptAbort();
    const reason = new Error('cancelled');
    abort.abort(reason);
    abort.abort(new Error('second'));
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
    expect(() => abort.throwIfAborted()).toThrow('cancelled');
  });

  it('a signal asked for before the abort fires its listeners once', () => {
    const abort = new AttemptAbort();
    const seen: unknown[] = [];
    abort.signal.addEventListener('abort', () => seen.push(abort.signal.reason));
    abort.abort('first');
    abort.abort('second');
    expect(seen).toEqual(['first']);
  });

  it('an abort abandons a handler that never settles, whether or not it read its signal', async () => {
    for (const readsSignal of [false, true]) {
      const abort = new AttemptAbort();
      const hang = defineHandler({ name: 'hang', input: z.unknown(), run: (_i, ctx) => new Promise(() => (readsSignal ? ctx.signal : undefined)) });
      const pending = runAttempt({ handler: hang, input: {}, deadlines: never, abort, log, context });
      setTimeout(() => abort.abort(new Error('halted')), 10);
      const result = await pending;
      expect(result.ok).toBe(false);
      expect(result.ok ? undefined : (result.abortedBy as Error).message).toBe('halted');
    }
  });

  it('the earliest deadline aborts the attempt and is what the handler sees', async () => {
    const abort = new AttemptAbort();
    let seen: unknown;
    const wait = defineHandler({
      name: 'wait',
      input: z.unknown(),
      run: (_i, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject((seen = ctx.signal.reason)))),
    });
    const result = await runAttempt({ handler: wait, input: {}, deadlines: [...never, { level: 'attempt', at: Date.now() + 20, limitMs: 20 }], abort, log, context });
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.failure.kind).toBe('timeout');
    expect(seen).toBe(abort.reason);
  });

  it('a handler that returns at once succeeds without an AbortSignal being made', async () => {
    const abort = new AttemptAbort();
    const noop = defineHandler({ name: 'noop', input: z.unknown(), run: () => ({ ok: true }) });
    const result = await runAttempt({ handler: noop, input: {}, deadlines: never, abort, log, context });
    expect(result).toMatchObject({ ok: true, output: '{"ok":true}' });
    expect((abort as unknown as { controller?: unknown }).controller).toBeUndefined();
  });
});

describe('runAttempt: a synchronous handler is answered synchronously', () => {
  it('no promise and no deadline list is asked for when the handler returns a value', () => {
    const abort = new AttemptAbort();
    const noop = defineHandler({ name: 'noop', input: z.unknown(), run: () => 7 });
    let asked = 0;
    const result = runAttempt({ handler: noop, input: {}, deadlines: () => (asked++, never), abort, context });
    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toMatchObject({ ok: true, output: '7' });
    expect(asked).toBe(0);
  });

  it('a deadline list given as a function still times out an asynchronous handler', async () => {
    const abort = new AttemptAbort();
    const hang = defineHandler({ name: 'hang', input: z.unknown(), run: () => new Promise(() => undefined) });
    const result = await runAttempt({ handler: hang, input: {}, deadlines: () => [{ level: 'attempt', at: Date.now() + 15, limitMs: 15 }], abort, context });
    expect(result.ok ? '' : result.failure.kind).toBe('timeout');
  });

  it('a throwing or oversized synchronous answer is a failed attempt, not a throw', () => {
    const boom = defineHandler({ name: 'boom', input: z.unknown(), run: () => { throw new Error('boom'); } });
    expect(runAttempt({ handler: boom, input: {}, deadlines: never, abort: new AttemptAbort(), context })).toMatchObject({ ok: false, failure: { message: 'boom' } });
    const big = defineHandler({ name: 'big', input: z.unknown(), run: () => 'x'.repeat(1024 * 1024) });
    expect(runAttempt({ handler: big, input: {}, deadlines: never, abort: new AttemptAbort(), context })).toMatchObject({ ok: false, failure: { kind: 'invalid_output' } });
  });

  it('z.unknown() passes the input through untouched, but its refinements still run', () => {
    const input = { a: 1 };
    let seen: unknown;
    const any = defineHandler({ name: 'any', input: z.unknown(), run: (i) => ((seen = i), null) });
    runAttempt({ handler: any, input, deadlines: never, abort: new AttemptAbort(), context });
    expect(seen).toBe(input);
    const refined = defineHandler({ name: 'refined', input: z.unknown().refine((v) => v === 1, 'must be 1'), run: () => null });
    expect(runAttempt({ handler: refined, input: 2, deadlines: never, abort: new AttemptAbort(), context })).toMatchObject({ ok: false, failure: { kind: 'invalid_input' } });
    expect(runAttempt({ handler: refined, input: 1, deadlines: never, abort: new AttemptAbort(), context })).toMatchObject({ ok: true });
  });
});
