import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineHandler } from '../../src/handlers/define.ts';
import type { AttemptGuard, GuardDecision } from '../../src/worker/guard.ts';
import { useTestRedis } from '../support/context.ts';
import { startEngine, type Engine } from '../support/engine.ts';

const t = useTestRedis('worker-guard-answers', { scope: 'file' });

/** A thenable that is not a native promise, settling on a later tick. */
function later<T>(value: T): PromiseLike<T> {
  return { then: (resolve) => (setTimeout(() => resolve?.(value), 1), undefined as never) } as PromiseLike<T>;
}

let settled = 0;
const thenableGuard: AttemptGuard = {
  before: () =>
    later<GuardDecision>({
      kind: 'proceed',
      lease: {
        mock: false,
        redact: (text) => text,
        after: () => later(undefined).then(() => void settled++),
      },
    }),
};

const seen: Record<string, unknown>[] = [];
const writesSecrets = defineHandler({
  name: 'writes-secrets',
  input: z.unknown(),
  run: (_input, ctx) => {
    seen.push({ ...ctx.secrets });
    (ctx.secrets as Record<string, string>).LEAKED = 'x';
    return null;
  },
});

let engine: Engine;
beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, handlers: [writesSecrets], guard: thenableGuard });
});
afterAll(() => engine?.close());

describe('what the worker accepts from guards and gives handlers', () => {
  it('a custom guard may answer with any thenable, for its decision and for its settle', async () => {
    const run = await engine.run(`
name: thenable-guard
steps:
  - { id: a, uses: noop }
  - { id: b, uses: noop, needs: [a] }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(settled).toBe(2);
  });

  it("a handler's ctx.secrets is its own: writing to it neither throws nor reaches another step", async () => {
    const run = await engine.run(`
name: secrets-own
steps:
  - { id: a, uses: writes-secrets }
  - { id: b, uses: writes-secrets, needs: [a] }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(seen).toEqual([{}, {}]);
  });
});
