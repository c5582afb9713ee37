/**
 * The handler context's `signal` and `log` (src/worker/context-accessors.ts): made when first
 * read, own and enumerable as an object literal's getters were, so a handler that spreads its
 * context (`{...ctx, log: child}`) keeps them.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AttemptAbort } from '../../src/worker/attempt.ts';
import { defineLazyAccessors } from '../../src/worker/context-accessors.ts';

function context(abort = new AttemptAbort()) {
  let made = 0;
  const logger = pino({ level: 'silent' });
  const ctx = defineLazyAccessors({ runId: 'run-1', stepId: 'a' }, abort, () => {
    made++;
    return logger;
  });
  return { ctx, logger, abort, made: () => made };
}

describe('defineLazyAccessors', () => {
  it('makes the logger on first read only, and once', () => {
    const { ctx, logger, made } = context();
    expect(made()).toBe(0);
    expect(ctx.log).toBe(logger);
    expect(ctx.log).toBe(logger);
    expect(made()).toBe(1);
  });

  it("answers the attempt's signal, which aborts with the attempt", () => {
    const { ctx, abort } = context();
    const signal = ctx.signal;
    expect(signal.aborted).toBe(false);
    abort.abort(new Error('cancelled'));
    expect(signal.aborted).toBe(true);
    expect(ctx.signal).toBe(signal);
  });

  it('keeps each context its own attempt', () => {
    const first = context();
    const second = context();
    first.abort.abort(new Error('one'));
    expect(first.ctx.signal.aborted).toBe(true);
    expect(second.ctx.signal.aborted).toBe(false);
  });

  it('is spread and listed as own fields, without its hidden state', () => {
    const { ctx, logger, abort } = context();
    expect(Object.keys(ctx)).toEqual(['runId', 'stepId', 'signal', 'log']);
    const copy = { ...ctx };
    expect(copy.log).toBe(logger);
    expect(copy.signal).toBe(abort.signal);
    expect(Object.getOwnPropertySymbols(copy)).toEqual([]);
    expect(JSON.parse(JSON.stringify({ runId: ctx.runId, stepId: ctx.stepId }))).toEqual({ runId: 'run-1', stepId: 'a' });
  });
});
