import { evaluate } from '@marcbachmann/cel-js';
import { describe, expect, it } from 'vitest';
import { toFailure } from '../../src/errors.ts';
import { assert, memberPaths } from '../../src/handlers/builtin/assert.ts';
import type { HandlerContext } from '../../src/handlers/types.ts';
import { testContext as baseContext } from '../support/handler-context.ts';

/** A HandlerContext whose `evaluate` runs CEL over `vars`, as the engine's does. */
const testContext = (vars: Record<string, unknown>) => baseContext({ stepId: 'check', evaluate: (expression) => evaluate(expression, vars) });

const vars = {
  input: { user: { name: 'ada' }, limit: 3n },
  steps: {
    plan: { status: 'succeeded', output: { text: '', items: [1n, 2n] } },
    'fetch-data': { status: 'succeeded', output: { count: 5n } },
  },
};

async function failureOf(that: string) {
  try {
    await assert.run({ that }, testContext(vars));
  } catch (e) {
    return toFailure(e);
  }
  throw new Error(`expected "${that}" to fail`);
}

describe('assert handler', () => {
  it('passes when the expression is true', async () => {
    expect(await assert.run({ that: 'steps.plan.output.items.size() == 2' }, testContext(vars))).toBeNull();
  });

  it('fails with kind assertion naming the expression and the values it read', async () => {
    expect(await failureOf('steps.plan.output.text.size() > 0')).toMatchObject({
      kind: 'assertion',
      retryable: false,
      message: 'assertion failed: steps.plan.output.text.size() > 0 (steps.plan.output.text = "")',
    });
  });

  it('shows every path, including bracketed step ids and input paths', async () => {
    const { message } = await failureOf("steps['fetch-data'].output.count < input.limit && input.user.name == 'ada'");
    expect(message).toBe(
      `assertion failed: steps['fetch-data'].output.count < input.limit && input.user.name == 'ada' ` +
        `(steps['fetch-data'].output.count = 5, input.limit = 3, input.user.name = "ada")`,
    );
  });

  it('fails when the expression is not a bool', async () => {
    expect((await failureOf('input.user.name')).message).toBe(
      'assertion failed: input.user.name [evaluated to "ada", not a bool] (input.user.name = "ada")',
    );
  });

  it('fails with kind assertion when the expression cannot be evaluated, showing what it could read', async () => {
    const failure = await failureOf('steps.plan.output.missing > 1');
    expect(failure.kind).toBe('assertion');
    expect(failure.message).toBe(
      'assertion could not be evaluated: steps.plan.output.missing > 1: No such key: missing (steps.plan.output.missing = <No such key: missing>)',
    );
  });
});

describe('memberPaths', () => {
  it('drops a trailing method call and keeps member and index access', () => {
    expect(memberPaths('steps.a.output.list[0].name.startsWith("x") && input["k"].size() > 1')).toEqual([
      'steps.a.output.list[0].name',
      'input["k"]',
    ]);
  });

  it('ignores identifiers that merely end in a root name and deduplicates', () => {
    expect(memberPaths('myinput.a == input.a || input.a == 1')).toEqual(['input.a']);
  });
});
