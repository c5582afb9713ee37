import { z } from 'zod';
import { DeterministicError } from '../../errors.ts';
import { defineHandler } from '../define.ts';
import type { HandlerContext } from '../types.ts';

/** Each shown value is cut here so one huge output cannot swamp the failure message. */
const MAX_VALUE_CHARS = 200;

/** `steps.plan`, `steps['x-y']`, `input` — followed by `.name`, `['key']` or `[0]` members. */
const MEMBER_PATH =
  /(?<![\w.$])(?:steps(?:\.[A-Za-z_]\w*|\[\s*(?:'[^']*'|"[^"]*")\s*\])|input)(?:\s*\.\s*[A-Za-z_]\w*|\[\s*(?:'[^']*'|"[^"]*"|\d+)\s*\])*/g;

/** A trailing `.name` that is really a method call, as in `text.size()`. */
const TRAILING_METHOD = /\s*\.\s*[A-Za-z_]\w*$/;

/**
 * `assert`: fails with kind `assertion` unless the CEL expression `that` is exactly `true`.
 * The message names the expression and the values of the paths it reads, so a red run
 * explains itself without re-running.
 */
export const assert = defineHandler({
  name: 'assert',
  input: z.object({ that: z.string().min(1) }),
  run: ({ that }, ctx) => {
    let result: unknown;
    try {
      result = ctx.evaluate(that);
    } catch (e) {
      throw new DeterministicError(`assertion could not be evaluated: ${that}: ${errorMessage(e)}${describePaths(that, ctx)}`, {
        kind: 'assertion',
        cause: e,
        details: { expression: that },
      });
    }
    if (result === true) return null;
    const got = typeof result === 'boolean' ? '' : ` [evaluated to ${formatValue(result)}, not a bool]`;
    throw new DeterministicError(`assertion failed: ${that}${got}${describePaths(that, ctx)}`, {
      kind: 'assertion',
      details: { expression: that },
    });
  },
});

/** The member paths an expression reads, in order of appearance, without duplicates. */
export function memberPaths(expression: string): string[] {
  const paths = new Set<string>();
  for (const match of expression.matchAll(MEMBER_PATH)) {
    let path = match[0];
    const after = expression.slice((match.index ?? 0) + path.length);
    if (/^\s*\(/.test(after)) path = path.replace(TRAILING_METHOD, '');
    path = path.replace(/\s+/g, '');
    if (path.includes('.') || path.includes('[')) paths.add(path);
  }
  return [...paths];
}

/** ` (a = 1, b = "x")`, or '' when the expression reads no paths. */
function describePaths(expression: string, ctx: HandlerContext): string {
  const parts = memberPaths(expression).map((path) => {
    try {
      return `${path} = ${formatValue(ctx.evaluate(path))}`;
    } catch (e) {
      return `${path} = <${errorMessage(e)}>`;
    }
  });
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

/** JSON-like rendering that copes with CEL's bigint ints and Maps. */
function formatValue(value: unknown): string {
  let text: string;
  try {
    text =
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'bigint') return Number(v);
        if (v instanceof Map) return Object.fromEntries(v);
        if (v instanceof Set) return [...v];
        return v;
      }) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length <= MAX_VALUE_CHARS ? text : `${text.slice(0, MAX_VALUE_CHARS)}…`;
}

/** One line: CEL errors append a multi-line source excerpt with a caret, useless inside a message. */
function errorMessage(e: unknown): string {
  const summary = (e as { summary?: unknown } | null)?.summary;
  if (typeof summary === 'string' && summary) return summary;
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0];
}
