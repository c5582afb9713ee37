import { describe, expect, it } from 'vitest';
import { isScenarioError } from '../../src/errors.ts';
import {
  compileExpression,
  isExpressionError,
  prepareContext,
  referencedSteps,
  referencesSecrets,
  type ExpressionContext,
} from '../../src/scenario/index.ts';

const context: ExpressionContext = {
  input: { n: 3, price: 2.5, baseUrl: 'http://127.0.0.1:8080', tags: ['a', 'b'] },
  steps: {
    login: { output: { body: { name: 'alice', tier: 'premium' } }, status: 'succeeded' },
    'premium-path': { output: { count: 3 }, status: 'succeeded' },
    plan: { output: { text: 'buy things', usage: { input: 10, output: 20 } }, status: 'succeeded' },
  },
  run: { id: 'run-1', attempt: 1 },
};

const evaluate = (source: string, ctx: ExpressionContext = context): unknown => compileExpression(source).evaluate(ctx);

describe('compileExpression (SPEC §3)', () => {
  it('treats a JSON integer as a CEL int: input.n + 1 == 4 without casts', () => {
    expect(evaluate('input.n + 1 == 4')).toBe(true);
    expect(evaluate('input.n + 1')).toBe(4);
    expect(evaluate("steps['premium-path'].output.count > 2")).toBe(true);
  });

  it('returns plain JSON numbers, never BigInt', () => {
    const value = evaluate('{"n": input.n * 2, "list": [1, 2]}');
    expect(value).toEqual({ n: 6, list: [1, 2] });
    expect(typeof (value as { n: unknown }).n).toBe('number');
  });

  it('keeps doubles as doubles and mixes them with ints as users expect', () => {
    expect(evaluate('input.price * 2')).toBe(5);
    expect(evaluate('input.n + input.price')).toBe(5.5);
    expect(evaluate('input.price > 2')).toBe(true);
  });

  it('supports size() as function and method, and string comparison', () => {
    expect(evaluate('steps.plan.output.text.size() > 0')).toBe(true);
    expect(evaluate('size(input.tags) == 2')).toBe(true);
    expect(evaluate("steps.login.output.body.tier == 'premium'")).toBe(true);
    expect(evaluate("steps.login.output.body.tier != 'premium'")).toBe(false);
    expect(evaluate('"abc" < "abd"')).toBe(true);
  });

  it('reads step status and run fields', () => {
    expect(evaluate("steps.login.status == 'succeeded' && run.attempt == 1 && run.id == 'run-1'")).toBe(true);
  });

  it('supports macros and has()', () => {
    expect(evaluate("input.tags.exists(t, t == 'b')")).toBe(true);
    expect(evaluate('has(steps.login.output.body.email)')).toBe(false);
  });

  it('reuses a prepared context across expressions', () => {
    const prepared = prepareContext(context);
    expect(compileExpression('input.n').evaluate(prepared)).toBe(3);
    expect(compileExpression('input.n == 3').test(prepared)).toBe(true);
  });

  it('throws an ExpressionError naming the column on a parse error', () => {
    try {
      compileExpression('input.n +');
      expect.unreachable();
    } catch (e) {
      expect(isExpressionError(e)).toBe(true);
      expect((e as Error).message).toBe('unexpected token: EOF at column 10 in expression "input.n +"');
    }
  });

  it('rejects unknown variables and functions at compile time', () => {
    expect(() => compileExpression('nosuch.x')).toThrow(/unknown variable: nosuch/);
    expect(() => compileExpression('input.s.length()')).toThrow(/no matching overload/);
  });

  it('fails evaluation of a missing key as a deterministic invalid_input error', () => {
    try {
      evaluate('steps.login.output.body.nme');
      expect.unreachable();
    } catch (e) {
      expect(isScenarioError(e) && e.kind).toBe('invalid_input');
      expect(isScenarioError(e) && e.retryable).toBe(false);
      expect((e as Error).message).toBe('expression "steps.login.output.body.nme": no such key: nme');
    }
  });

  it('test() requires a bool', () => {
    expect(() => compileExpression('input.n').test(context)).toThrow('expression "input.n" must be a bool, got 3');
  });
});

describe('referencedSteps', () => {
  it('finds dotted and indexed step ids, once each', () => {
    expect(referencedSteps("steps.a.output.x > 1 && steps['b-c'].status == 'ok' && steps[\"d\"].output.y && steps.a.status == 'x'")).toEqual([
      'a',
      'b-c',
      'd',
    ]);
  });

  it('finds ids inside macros and has()', () => {
    expect(referencedSteps('has(steps.a.output.x) && steps.b.output.items.all(i, i > 0)')).toEqual(['a', 'b']);
  });

  it('flags dynamic access, whose ids cannot be known', () => {
    expect(compileExpression('steps[input.which].status').references.dynamicSteps).toBe(true);
    expect(compileExpression('steps.a.status').references.dynamicSteps).toBe(false);
  });
});

describe('referencesSecrets', () => {
  it('finds secret names in both access forms', () => {
    expect(referencesSecrets("'Bearer ' + secrets.API_TOKEN + secrets['OTHER']")).toEqual(['API_TOKEN', 'OTHER']);
    expect(referencesSecrets('input.n')).toEqual([]);
  });
});
