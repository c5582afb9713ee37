import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineHandler } from '../../src/handlers/define.ts';
import type { AttemptGuard, GuardDecision, GuardRequest } from '../../src/worker/guard.ts';
import { useTestRedis } from '../support/context.ts';
import { startEngine, type Engine } from '../support/engine.ts';

const t = useTestRedis('worker-guard-answers', { scope: 'file' });

/** A thenable that is not a native promise, settling on a later tick. */
function later<T>(value: T): PromiseLike<T> {
  return { then: (resolve) => (setTimeout(() => resolve?.(value), 1), undefined as never) } as PromiseLike<T>;
}

let settled = 0;
const requests: GuardRequest[] = [];
const thenableGuard: AttemptGuard = {
  before: (request) =>
    (requests.push(request), later<GuardDecision>({
      kind: 'proceed',
      lease: {
        mock: false,
        redact: (text) => text,
        after: () => later(undefined).then(() => void settled++),
      },
    })),
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

  it('hands the guard a request with the step, its job and its data, each made with new', () => {
    expect(requests.map((r) => r.data.stepId).sort()).toEqual(['a', 'b']);
    for (const request of requests) {
      expect(request).toMatchObject({ step: { def: { id: request.data.stepId } }, job: { data: request.data }, input: {}, secrets: {} });
      expect(request.data).toEqual({ runId: request.run.runId, stepId: request.data.stepId, attempt: 1 });
      // Not object literals: V8 may pretenure a literal's site, and an old request or job data
      // kept the attempt's young objects alive through every scavenge (docs/performance.md).
      expect(Object.getPrototypeOf(request)).not.toBe(Object.prototype);
      expect(Object.getPrototypeOf(request.data)).not.toBe(Object.prototype);
    }
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
