/**
 * The context a real worker hands its handlers: `ctx.signal` and `ctx.log` are own, enumerable
 * accessors (a handler that spreads its context keeps them), and their getters are the same
 * functions for every attempt. Getters made per attempt (an object literal's) were the largest
 * part of the worker's young-generation work: src/worker/context-accessors.ts says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineHandler } from '../../src/handlers/define.ts';
import { useTestRedis } from '../support/context.ts';
import { startEngine, type Engine } from '../support/engine.ts';

const t = useTestRedis('handler-context', { scope: 'file' });

interface Seen {
  stepId: string;
  keys: string[];
  signalGetter: unknown;
  logGetter: unknown;
  spreadSignal: boolean;
  spreadLog: boolean;
}
const seen: Seen[] = [];

const probe = defineHandler({
  name: 'ctx-probe',
  input: z.unknown(),
  run: (_input, ctx) => {
    const copy = { ...ctx };
    seen.push({
      stepId: ctx.stepId,
      keys: Object.keys(ctx),
      signalGetter: Object.getOwnPropertyDescriptor(ctx, 'signal')?.get,
      logGetter: Object.getOwnPropertyDescriptor(ctx, 'log')?.get,
      spreadSignal: copy.signal instanceof AbortSignal && !copy.signal.aborted,
      spreadLog: typeof copy.log.info === 'function',
    });
    copy.log.info('logged from a spread context');
    return null;
  },
});

let engine: Engine;
beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2, handlers: [probe] });
});
afterAll(() => engine?.close());

describe('the handler context', () => {
  it('gives every attempt signal and log as own accessors that spread, with shared getters', async () => {
    const run = await engine.run(`
name: ctx
steps:
  - { id: a, uses: ctx-probe }
  - { id: b, uses: ctx-probe }
  - { id: c, uses: ctx-probe, needs: [a] }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(seen.map((s) => s.stepId).sort()).toEqual(['a', 'b', 'c']);
    for (const s of seen) {
      expect(s.keys).toEqual(expect.arrayContaining(['runId', 'stepId', 'attempt', 'signal', 'log', 'secrets', 'evaluate', 'reportUsage']));
      expect(s.spreadSignal).toBe(true);
      expect(s.spreadLog).toBe(true);
      expect(typeof s.signalGetter).toBe('function');
      expect(s.signalGetter).toBe(seen[0].signalGetter);
      expect(s.logGetter).toBe(seen[0].logGetter);
    }
  });
});
