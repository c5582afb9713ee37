import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../src/client.ts';
import { buildBundle } from '../../src/engine/bundle.ts';
import { defineHandler } from '../../src/handlers/define.ts';
import { MAX_OUTPUT_BYTES } from '../../src/worker/attempt.ts';
import { useTestRedis } from '../support/context.ts';
import { startEngine, type Engine } from '../support/engine.ts';

const t = useTestRedis('engine-dataflow', { scope: 'file' });

/** `blob`: returns a JSON string output of exactly `bytes` bytes once serialised. */
const blob = defineHandler({
  name: 'blob',
  input: z.object({ bytes: z.number().int().min(2) }),
  run: ({ bytes }) => 'x'.repeat(bytes - 2),
});

let engine: Engine;
beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, handlers: [blob] });
});
afterAll(() => engine?.close());

async function outputOf(runId: string, stepId: string): Promise<unknown> {
  const raw = await t.redis.hget(engine.client.keys.runOutputs(runId), stepId);
  return raw === null ? undefined : JSON.parse(raw);
}

describe('sequential output passing (SPEC §3)', () => {
  const pipeline = `
name: pipeline
input: { user: alice, n: 3, tags: [a, b] }
steps:
  - id: login
    uses: echo
    with: { name: "{{ input.user }}", count: "{{ input.n + 1 }}", profile: { tier: premium, ok: true } }
  - id: use
    needs: [login]
    uses: echo
    with:
      greeting: "hello {{ steps.login.output.name }}, you are #{{ steps.login.output.count }}"
      count: "{{ steps.login.output.count }}"
      doubled: "{{ steps.login.output.count * 2 }}"
      profile: "{{ steps.login.output.profile }}"
      tags: "{{ input.tags }}"
      flag: "{{ steps.login.output.profile.ok }}"
      literal: plain text
  - id: check
    needs: [use]
    uses: assert
    with: { that: "steps.use.output.doubled == 8 && steps.use.output.profile.tier == 'premium'" }
`;

  it('passes outputs and input through templates; a lone template keeps its type', async () => {
    const run = await engine.run(pipeline);
    expect(run.summary.status).toBe('succeeded');
    expect(await outputOf(run.runId, 'login')).toEqual({ name: 'alice', count: 4, profile: { tier: 'premium', ok: true } });
    expect(await outputOf(run.runId, 'use')).toEqual({
      greeting: 'hello alice, you are #4',
      count: 4,
      doubled: 8,
      profile: { tier: 'premium', ok: true },
      tags: ['a', 'b'],
      flag: true,
      literal: 'plain text',
    });
  });

  it('input given at enqueue overrides the defaults key by key', async () => {
    const run = await engine.run(pipeline, { input: { user: 'bob', n: 41 } });
    expect(await outputOf(run.runId, 'use')).toMatchObject({ greeting: 'hello bob, you are #42', count: 42, doubled: 84, tags: ['a', 'b'] });
    // The assertion written for n = 3 now sees 84 and says so.
    expect(run.summary.status).toBe('failed');
    expect(run.step('check').errors[0]).toMatchObject({ kind: 'assertion' });
  });

  it('a template naming a missing value fails the step as invalid_input, naming the expression, without retry', async () => {
    const run = await engine.run(`
name: missing-value
steps:
  - { id: a, uses: echo, with: { v: 1 } }
  - id: b
    needs: [a]
    uses: echo
    retry: { attempts: 3, backoff: { type: fixed, delayMs: 10 } }
    with: { x: "{{ steps.a.output.nope }}" }
`);
    expect(run.summary.status).toBe('failed');
    const b = run.step('b');
    expect(b).toMatchObject({ status: 'failed', attempts: 1 });
    expect(b.errors).toHaveLength(1);
    expect(b.errors[0].kind).toBe('invalid_input');
    expect(b.errors[0].message).toContain('steps.a.output.nope');
  });
});

describe('output persistence (SPEC §5, §12)', () => {
  it('a step that returned nothing reads as output null in templates and conditions', async () => {
    const run = await engine.run(`
name: null-output
steps:
  - { id: none, uses: noop }
  - { id: seen, uses: echo, needs: [none], if: "steps.none.output == null", with: { was: "{{ steps.none.output }}" } }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(run.step('seen').status).toBe('succeeded');
    expect(await outputOf(run.runId, 'seen')).toEqual({ was: null });
  });

  it("keeps a succeeded step's output readable after the run, from any client", async () => {
    const run = await engine.run(`
name: keep-output
steps:
  - { id: make, uses: echo, with: { id: 7, items: [1, 2, 3], nested: { deep: "yes" } } }
  - { id: none, uses: noop }
  - { id: broken, uses: fault, with: { kind: client_error, output: { never: true } } }
`);
    expect(run.summary.status).toBe('failed');
    const other = await createClient({ redisUrl: t.url, prefix: t.prefix });
    try {
      const summary = await other.status(run.runId);
      expect(summary?.steps.map((s) => [s.id, s.status])).toEqual([['make', 'succeeded'], ['none', 'succeeded'], ['broken', 'failed']]);
      const outputs = await other.redis.hgetall(other.keys.runOutputs(run.runId));
      expect(JSON.parse(outputs.make)).toEqual({ id: 7, items: [1, 2, 3], nested: { deep: 'yes' } });
      // A null output is not stored; every reader reads it as null (src/engine/outputs.ts).
      expect(outputs.none).toBeUndefined();
      expect(outputs.broken).toBeUndefined();
      const bundle = await buildBundle(other.redis, other.keys, run.runId);
      expect(bundle?.outputs).toEqual({ make: { id: 7, items: [1, 2, 3], nested: { deep: 'yes' } }, none: null });
    } finally {
      await other.close();
    }
  });

  it('an output over 1 MiB fails the step invalid_output (not truncated, not retried); just under passes', async () => {
    const run = await engine.run(`
name: big-output
steps:
  - id: too-big
    uses: blob
    retry: { attempts: 3, backoff: { type: fixed, delayMs: 10 } }
    with: { bytes: ${MAX_OUTPUT_BYTES + 1} }
  - { id: at-limit, uses: blob, with: { bytes: ${MAX_OUTPUT_BYTES} } }
  - { id: after, uses: noop, needs: [too-big] }
`);
    expect(run.summary.status).toBe('failed');
    const tooBig = run.step('too-big');
    expect(tooBig).toMatchObject({ status: 'failed', attempts: 1 });
    expect(tooBig.errors[0].kind).toBe('invalid_output');
    expect(tooBig.errors[0].message).toContain(String(MAX_OUTPUT_BYTES));
    expect(await outputOf(run.runId, 'too-big')).toBeUndefined();
    expect(run.step('after')).toMatchObject({ status: 'skipped', reason: 'upstream_failed' });
    expect(run.step('at-limit').status).toBe('succeeded');
    expect(((await outputOf(run.runId, 'at-limit')) as string).length).toBe(MAX_OUTPUT_BYTES - 2);
  });
});
