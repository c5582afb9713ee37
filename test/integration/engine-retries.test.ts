import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineHandler } from '../../src/handlers/define.ts';
import { DeterministicError, TransientError } from '../../src/errors.ts';
import { useTestRedis } from '../support/context.ts';
import { startHttpTarget, type HttpTarget } from '../support/http-target.ts';
import { startEngine, type Engine, type FinishedRun } from '../support/engine.ts';

const t = useTestRedis('engine-retries', { scope: 'file' });

/** `throws`: attempts 1..failTimes throw what `as` says; then succeed. */
const throws = defineHandler({
  name: 'throws',
  input: z.object({ as: z.enum(['plain', 'transient', 'deterministic', 'string']), failTimes: z.number().int() }),
  run: ({ as, failTimes }, ctx) => {
    if (ctx.attempt > failTimes) return { attempt: ctx.attempt };
    if (as === 'transient') throw new TransientError(`upstream hiccup ${ctx.attempt}`);
    if (as === 'deterministic') throw new DeterministicError(`bad request ${ctx.attempt}`, { kind: 'client_error' });
    if (as === 'string') throw `a thrown string ${ctx.attempt}`;
    throw new Error(`plain error ${ctx.attempt}`);
  },
});

let engine: Engine;
let target: HttpTarget;
beforeAll(async () => {
  target = await startHttpTarget();
  engine = await startEngine({ url: t.url, prefix: t.prefix, handlers: [throws] });
});
afterAll(async () => {
  await engine?.close();
  await target?.close();
});

const fixed = (attempts: number, extra = '') => `retry: { attempts: ${attempts}, backoff: { type: fixed, delayMs: 50, jitter: none }${extra} }`;
const eventsOf = (run: FinishedRun, stepId: string) => run.events.filter((e) => e.stepId === stepId).map((e) => `${e.type}#${e.attempt}`);

describe('retries (SPEC §7)', () => {
  it('succeeds on the 3rd attempt; the summary keeps the errors of attempts 1 and 2 with their delays', async () => {
    const run = await engine.run(`
name: third-time
steps:
  - id: flaky
    uses: fault
    ${fixed(3)}
    with: { failTimes: 2, kind: server_error, message: "HTTP 503", output: { ok: true } }
  - { id: next, uses: noop, needs: [flaky] }
`);
    expect(run.summary.status).toBe('succeeded');
    const flaky = run.step('flaky');
    expect(flaky).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(flaky.errors).toHaveLength(2);
    expect(flaky.errors).toMatchObject([
      { attempt: 1, kind: 'server_error', message: 'HTTP 503', retryDelayMs: 50 },
      { attempt: 2, kind: 'server_error', message: 'HTTP 503', retryDelayMs: 50 },
    ]);
    for (const e of flaky.errors) expect(e.workerId).toMatch(/.+/);
    // The step started with its first attempt's claim (the attempt's record starts at its
    // handler, a little later) and lasted through the third.
    const first = Date.parse(flaky.errors[0].startedAt!);
    expect(Date.parse(flaky.startedAt!)).toBeLessThanOrEqual(first);
    expect(Date.parse(flaky.startedAt!)).toBeLessThan(Date.parse(flaky.errors[0].finishedAt!));
    expect(flaky.durationMs).toBe(Date.parse(flaky.finishedAt!) - Date.parse(flaky.startedAt!));
    expect(flaky.durationMs).toBeGreaterThanOrEqual(Date.parse(flaky.finishedAt!) - first);
    expect(eventsOf(run, 'flaky')).toEqual([
      'step.queued#1',
      'step.started#1',
      'step.retrying#1',
      'step.started#2',
      'step.retrying#2',
      'step.started#3',
      'step.succeeded#3',
    ]);
    const retrying = run.events.find((e) => e.type === 'step.retrying');
    expect(retrying?.data).toMatchObject({ kind: 'server_error', message: 'HTTP 503', delayMs: 50 });
  });

  it('exhausts its attempts and the final failure carries every attempt error', async () => {
    const run = await engine.run(`
name: exhausted
steps:
  - id: down
    uses: fault
    retry: { attempts: 3, backoff: { type: exponential, delayMs: 40, multiplier: 3, maxDelayMs: 100, jitter: none } }
    with: { kind: network }
  - { id: after, uses: noop, needs: [down] }
`);
    expect(run.summary.status).toBe('failed');
    const down = run.step('down');
    expect(down).toMatchObject({ status: 'failed', attempts: 3 });
    expect(down.errors.map((e) => [e.attempt, e.kind, e.message, e.retryDelayMs])).toEqual([
      [1, 'network', 'fault injected (attempt 1)', 40],
      // 40·3 = 120, capped by maxDelayMs.
      [2, 'network', 'fault injected (attempt 2)', 100],
      [3, 'network', 'fault injected (attempt 3)', undefined],
    ]);
    // The delay really was waited: attempt 3 started no earlier than 100 ms after attempt 2 ended.
    expect(Date.parse(down.errors[2].startedAt!) - Date.parse(down.errors[1].finishedAt!)).toBeGreaterThanOrEqual(95);
    expect(run.step('after')).toMatchObject({ status: 'skipped', reason: 'upstream_failed' });
    const failed = run.events.find((e) => e.type === 'step.failed' && e.stepId === 'down');
    expect(failed).toMatchObject({ attempt: 3, data: { kind: 'network' } });
    // The stack of each attempt is kept in the stored record.
    const record = JSON.parse((await t.redis.hget(engine.client.keys.runAttempts(run.runId), 'down|1'))!);
    expect(record).toMatchObject({ attempt: 1, kind: 'network', retryDelayMs: 40 });
    expect(record.stack).toContain('fault injected');
  });

  it.each(['client_error', 'assertion', 'invalid_input', 'invalid_output', 'error'])(
    'never retries the deterministic kind %s, even with attempts: 3',
    async (kind) => {
      const run = await engine.run(`
name: deterministic
steps:
  - id: once
    uses: fault
    ${fixed(3)}
    with: { kind: ${kind}, failTimes: 1 }
`);
      expect(run.summary.status).toBe('failed');
      expect(run.step('once')).toMatchObject({ status: 'failed', attempts: 1, errors: [{ attempt: 1, kind }] });
      expect(run.step('once').errors[0].retryDelayMs).toBeUndefined();
      expect(run.events.some((e) => e.type === 'step.retrying')).toBe(false);
    },
  );

  it('retryOn: [error] retries unclassified errors', async () => {
    const run = await engine.run(`
name: retry-on-error
steps:
  - id: opted-in
    uses: fault
    ${fixed(3, ', retryOn: [error]')}
    with: { kind: error, failTimes: 2 }
  - id: plain-throw
    uses: throws
    ${fixed(3, ', retryOn: [error]')}
    with: { as: plain, failTimes: 1 }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(run.step('opted-in')).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(run.step('opted-in').errors.map((e) => e.kind)).toEqual(['error', 'error']);
    expect(run.step('plain-throw')).toMatchObject({ status: 'succeeded', attempts: 2, errors: [{ kind: 'error', message: 'plain error 1' }] });
  });

  it('classifies what custom handlers throw: TransientError retried, DeterministicError and plain throws not', async () => {
    const run = await engine.run(`
name: custom-throws
steps:
  - { id: transient, uses: throws, ${fixed(3)}, with: { as: transient, failTimes: 2 } }
  - { id: deterministic, uses: throws, ${fixed(3)}, with: { as: deterministic, failTimes: 2 } }
  - { id: plain, uses: throws, ${fixed(3)}, with: { as: plain, failTimes: 2 } }
  - { id: string, uses: throws, ${fixed(3)}, with: { as: string, failTimes: 2 } }
`);
    expect(run.step('transient')).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(run.step('transient').errors.map((e) => e.kind)).toEqual(['transient', 'transient']);
    expect(run.step('deterministic')).toMatchObject({ status: 'failed', attempts: 1, errors: [{ kind: 'client_error', message: 'bad request 1' }] });
    expect(run.step('plain')).toMatchObject({ status: 'failed', attempts: 1, errors: [{ kind: 'error', message: 'plain error 1' }] });
    expect(run.step('string')).toMatchObject({ status: 'failed', attempts: 1, errors: [{ kind: 'error', message: 'a thrown string 1' }] });
  });

  it('classifies HTTP statuses: 503 retried as server_error, 404 fails at once as client_error, 429 waits Retry-After', async () => {
    const run = await engine.run(
      `
name: http-kinds
input: { base: "" }
steps:
  - id: flaky
    uses: http
    ${fixed(3)}
    with: { method: GET, url: "{{ input.base }}/flaky?key={{ run.id }}&fail=2" }
  - id: missing
    uses: http
    ${fixed(3)}
    with: { method: GET, url: "{{ input.base }}/status/404" }
  - id: limited
    uses: http
    ${fixed(2)}
    with: { method: GET, url: "{{ input.base }}/rate-limited?key=rl-{{ run.id }}&fail=1&retryAfter=1" }
`,
      { input: { base: target.url } },
    );
    expect(run.step('flaky')).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(run.step('flaky').errors.map((e) => e.kind)).toEqual(['server_error', 'server_error']);
    expect(run.step('missing')).toMatchObject({ status: 'failed', attempts: 1, errors: [{ kind: 'client_error' }] });
    expect(run.step('limited')).toMatchObject({ status: 'succeeded', attempts: 2 });
    // Retry-After: 1 (second) outweighs the 50 ms backoff.
    expect(run.step('limited').errors[0]).toMatchObject({ kind: 'rate_limited', retryDelayMs: 1000 });
  });
});
