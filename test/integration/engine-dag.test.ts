import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineHandler } from '../../src/handlers/define.ts';
import { sleep as sleepFor } from '../../src/engine/backoff.ts';
import type { ScenarioEvent } from '../../src/engine/types.ts';
import { useTestRedis } from '../support/context.ts';
import { createKeys } from '../../src/redis/keys.ts';
import { staticOf } from '../../src/engine/store.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { createCounterHandler } from '../fixtures/handlers/counter.ts';
import { startEngine, within, type Engine, type FinishedRun } from '../support/engine.ts';

const t = useTestRedis('engine-dag', { scope: 'file' });

/** Per run: how many `probe` attempts ran at once, at most, and each one's [start, end]. */
const probes = new Map<string, { current: number; max: number; spans: [number, number][] }>();
const probe = defineHandler({
  name: 'probe',
  input: z.object({ ms: z.number().int() }),
  run: async ({ ms }, ctx) => {
    const p = probes.get(ctx.runId) ?? { current: 0, max: 0, spans: [] };
    probes.set(ctx.runId, p);
    const start = Date.now();
    p.current++;
    p.max = Math.max(p.max, p.current);
    try {
      await sleepFor(ms, ctx.signal);
    } finally {
      p.current--;
      p.spans.push([start, Date.now()]);
    }
    return { ms };
  },
});

let engine: Engine;
beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 3, concurrency: 8, handlers: [probe, createCounterHandler(t.url)] });
});
afterAll(() => engine?.close());

const indexOf = (run: FinishedRun, type: string, stepId?: string) =>
  run.events.findIndex((e) => e.type === type && (stepId === undefined || e.stepId === stepId));
const countOf = (events: ScenarioEvent[], type: string, stepId: string) => events.filter((e) => e.type === type && e.stepId === stepId).length;
const statuses = (run: FinishedRun) => Object.fromEntries(run.summary.steps.map((s) => [s.id, s.status]));

describe('parallel branches and joins (SPEC §5)', () => {
  it('runs independent branches at the same time', async () => {
    const run = await engine.run(`
name: fan-out
steps:
  - { id: root, uses: noop }
  - { id: b1, uses: sleep, needs: [root], with: { ms: 800 } }
  - { id: b2, uses: sleep, needs: [root], with: { ms: 800 } }
  - { id: b3, uses: sleep, needs: [root], with: { ms: 800 } }
`);
    expect(run.summary.status).toBe('succeeded');
    // Every branch started before the first one finished.
    const lastStart = Math.max(...['b1', 'b2', 'b3'].map((id) => indexOf(run, 'step.started', id)));
    const firstEnd = Math.min(...['b1', 'b2', 'b3'].map((id) => indexOf(run, 'step.succeeded', id)));
    expect(lastStart).toBeLessThan(firstEnd);
  });

  it('a join waits for every input and sees all their outputs', async () => {
    const run = await engine.run(`
name: join-waits
steps:
  - { id: fast, uses: echo, with: { v: 1 } }
  - { id: slow-in, uses: sleep, with: { ms: 300 } }
  - { id: slow, uses: echo, needs: [slow-in], with: { v: 2 } }
  - id: join
    uses: assert
    needs: [fast, slow]
    with: { that: "steps.fast.output.v + steps.slow.output.v == 3" }
`);
    expect(run.summary.status).toBe('succeeded');
    const joinQueued = indexOf(run, 'step.queued', 'join');
    expect(joinQueued).toBeGreaterThan(indexOf(run, 'step.succeeded', 'fast'));
    expect(joinQueued).toBeGreaterThan(indexOf(run, 'step.succeeded', 'slow'));
    expect(countOf(run.events, 'step.started', 'join')).toBe(1);
  });

  it('a wide diamond enqueues and runs its join exactly once, 30 runs over 3 workers', async () => {
    const branches = Array.from({ length: 8 }, (_, i) => `  - { id: b${i}, uses: noop, needs: [top] }`).join('\n');
    const def = engine.scenario(`
name: wide-diamond
input: { counters: "" }
steps:
  - { id: top, uses: noop }
${branches}
  - id: join
    uses: count
    needs: [${Array.from({ length: 8 }, (_, i) => `b${i}`).join(', ')}]
    with: { key: "{{ input.counters }}:join:{{ run.id }}" }
`);
    const counters = `${t.prefix}:counters`;
    const runIds = await Promise.all(
      Array.from({ length: 30 }, async () => (await engine.client.enqueue(def, { input: { counters } })).runId),
    );
    const runs = await within(Promise.all(runIds.map((id) => engine.finish(id))), 45_000, '30 diamonds');
    for (const run of runs) {
      expect(run.summary.status, run.runId).toBe('succeeded');
      expect(countOf(run.events, 'step.queued', 'join'), run.runId).toBe(1);
      expect(countOf(run.events, 'step.started', 'join'), run.runId).toBe(1);
      expect(run.step('join').attempts).toBe(1);
      expect(await t.redis.get(`${counters}:join:${run.runId}`), run.runId).toBe('1');
      // The join became ready only after the last of its 8 inputs ended.
      const lastBranch = Math.max(...Array.from({ length: 8 }, (_, i) => indexOf(run, 'step.succeeded', `b${i}`)));
      expect(indexOf(run, 'step.queued', 'join')).toBeGreaterThan(lastBranch);
    }
    // The work really was shared: more than one worker ran steps.
    const workerIds = new Set(runs.flatMap((r) => r.events.filter((e) => e.type === 'step.started').map((e) => e.workerId)));
    expect(workerIds.size).toBeGreaterThanOrEqual(2);
  });
});

describe('conditions and default routes (SPEC §2, §5)', () => {
  const routes = `
name: routes
input: { tier: basic }
steps:
  - { id: login, uses: echo, with: { tier: "{{ input.tier }}" } }
  - { id: premium, uses: echo, needs: [login], if: "steps.login.output.tier == 'premium'", with: { path: premium } }
  - { id: basic, uses: echo, needs: [login], if: "steps.login.output.tier == 'basic'", with: { path: basic } }
  - id: fallback
    uses: echo
    needs: [login]
    if: "!(steps.login.output.tier in ['premium', 'basic'])"
    with: { path: fallback }
  - { id: verify, uses: noop, needs: [premium, basic, fallback] }
`;

  it.each([
    ['premium', 'premium'],
    ['basic', 'basic'],
    ['gold', 'fallback'],
  ])('tier %s takes the %s route only; the join after exclusive branches runs', async (tier, taken) => {
    const run = await engine.run(routes, { input: { tier } });
    expect(run.summary.status).toBe('succeeded');
    for (const route of ['premium', 'basic', 'fallback']) {
      if (route === taken) expect(run.step(route).status).toBe('succeeded');
      else expect(run.step(route)).toMatchObject({ status: 'skipped', reason: 'condition_false', attempts: 0 });
    }
    expect(run.step('verify').status).toBe('succeeded');
  });

  it('an explicit if decides alone: `if: "true"` teardown runs after a failure, on-failure routes too', async () => {
    const run = await engine.run(`
name: teardown
steps:
  - { id: pay, uses: fault, with: { kind: client_error, message: "HTTP 402" } }
  - { id: verify, uses: noop, needs: [pay] }
  - { id: refund, uses: echo, needs: [pay], if: "steps.pay.status == 'failed'", with: { refunded: true } }
  - { id: teardown, uses: noop, needs: [verify], if: "true" }
`);
    expect(run.summary.status).toBe('failed');
    expect(statuses(run)).toEqual({ pay: 'failed', verify: 'skipped', refund: 'succeeded', teardown: 'succeeded' });
    expect(run.step('verify').reason).toBe('upstream_failed');
  });

  it('a condition that reads a skipped step is false, not an error', async () => {
    const run = await engine.run(`
name: reads-skipped
steps:
  - { id: never, uses: echo, if: "false", with: { v: 1 } }
  - { id: uses-it, uses: noop, needs: [never], if: "steps.never.output.v == 1" }
  - { id: plain, uses: noop, needs: [never] }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(statuses(run)).toEqual({ never: 'skipped', 'uses-it': 'skipped', plain: 'succeeded' });
  });

  it('a condition that fails on outputs that exist fails its step (invalid_input), it does not hang the run', async () => {
    const run = await engine.run(
      `
name: bad-condition
steps:
  - { id: a, uses: echo, with: { v: 1 } }
  - { id: b, uses: noop, needs: [a], if: "steps.a.output.nope == 1" }
  - { id: c, uses: noop, needs: [b] }
`,
      { waitMs: 10_000 },
    );
    expect(run.summary.status).toBe('failed');
    expect(run.step('b')).toMatchObject({ status: 'failed', attempts: 1, errors: [{ kind: 'invalid_input' }] });
    expect(run.step('b').errors[0].message).toContain('steps.a.output.nope == 1');
    expect(run.step('c')).toMatchObject({ status: 'skipped', reason: 'upstream_failed' });
  });
});

describe('failures and their dependents (SPEC §5)', () => {
  it('skips everything downstream of a failure as upstream_failed, transitively', async () => {
    const run = await engine.run(`
name: upstream
steps:
  - { id: a, uses: fault, with: { kind: assertion } }
  - { id: b, uses: noop, needs: [a] }
  - { id: c, uses: noop, needs: [b] }
  - { id: d, uses: noop, needs: [c, side] }
  - { id: side, uses: noop }
`);
    expect(run.summary.status).toBe('failed');
    expect(statuses(run)).toEqual({ a: 'failed', b: 'skipped', c: 'skipped', d: 'skipped', side: 'succeeded' });
    for (const id of ['b', 'c', 'd']) expect(run.step(id)).toMatchObject({ reason: 'upstream_failed', attempts: 0 });
  });

  it('best-effort (default): independent branches go on after a failure; the run fails at the end', async () => {
    const run = await engine.run(`
name: best-effort
steps:
  - { id: boom, uses: fault, with: { kind: client_error } }
  - { id: after-boom, uses: noop, needs: [boom] }
  - { id: long, uses: sleep, with: { ms: 400 } }
  - { id: after-long, uses: echo, needs: [long], with: { ok: true } }
`);
    expect(run.summary.status).toBe('failed');
    expect(statuses(run)).toEqual({ boom: 'failed', 'after-boom': 'skipped', long: 'succeeded', 'after-long': 'succeeded' });
    expect(indexOf(run, 'step.failed', 'boom')).toBeLessThan(indexOf(run, 'step.succeeded', 'long'));
    expect(run.events.at(-1)?.type).toBe('run.failed');
  });

  it('failFast: the first failure cancels running siblings and skips the rest; if-steps still decide', async () => {
    const startedAt = Date.now();
    const run = await engine.run(`
name: fail-fast
failFast: true
steps:
  - { id: long, uses: sleep, timeoutMs: 60000, with: { ms: 30000 } }
  - { id: after-long, uses: noop, needs: [long] }
  - { id: boom, uses: fault, with: { kind: assertion, hangMs: 300 } }
  - { id: after-boom, uses: noop, needs: [boom] }
  - { id: teardown, uses: noop, needs: [long], if: "true" }
`);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(run.summary.status).toBe('failed');
    expect(statuses(run)).toEqual({ long: 'cancelled', 'after-long': 'skipped', boom: 'failed', 'after-boom': 'skipped', teardown: 'succeeded' });
    expect(run.step('long').reason).toBe('fail_fast');
    expect(run.step('long').errors).toMatchObject([{ kind: 'cancelled' }]);
    expect(run.step('after-long').reason).toBe('fail_fast');
  });

  it('failFast skips root steps still parked by maxParallel', async () => {
    const run = await engine.run(`
name: fail-fast-parked
failFast: true
maxParallel: 1
steps:
  - { id: boom, uses: fault, with: { kind: assertion } }
  - { id: a, uses: noop }
  - { id: b, uses: noop }
`);
    expect(run.summary.status).toBe('failed');
    expect(statuses(run)).toEqual({ boom: 'failed', a: 'skipped', b: 'skipped' });
    expect(run.step('a').reason).toBe('fail_fast');
  });

  it('continueOnError: the failure is recorded (failed, continued) but dependents run and the run succeeds', async () => {
    const run = await engine.run(`
name: continue
steps:
  - { id: flaky-probe, uses: fault, continueOnError: true, with: { kind: assertion, message: "nope" } }
  - { id: next, uses: echo, needs: [flaky-probe], with: { saw: "{{ steps['flaky-probe'].status }}" } }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(run.step('flaky-probe')).toMatchObject({ status: 'failed', continued: true, errors: [{ kind: 'assertion', message: 'nope' }] });
    expect(run.step('next').status).toBe('succeeded');
    expect(JSON.parse((await t.redis.hget(engine.client.keys.runOutputs(run.runId), 'next'))!)).toEqual({ saw: 'failed' });
    const failed = run.events.find((e) => e.type === 'step.failed' && e.stepId === 'flaky-probe');
    expect(failed?.data).toMatchObject({ continued: true, kind: 'assertion' });
  });
});

describe('maxParallel (SPEC §2)', () => {
  it('never runs more than maxParallel steps of a run at once', async () => {
    const steps = Array.from({ length: 6 }, (_, i) => `  - { id: p${i}, uses: probe, with: { ms: 400 } }`).join('\n');
    const run = await engine.run(`
name: throttled
maxParallel: 2
steps:
${steps}
  - { id: last, uses: probe, needs: [p0, p5], with: { ms: 10 } }
`);
    expect(run.summary.status).toBe('succeeded');
    const p = probes.get(run.runId)!;
    expect(p.spans).toHaveLength(7);
    expect(p.max).toBeLessThanOrEqual(2);
    // The engine's own timestamps agree: at no instant more than 2 steps between start and end.
    const marks = run.summary.steps.flatMap((s) => [
      [Date.parse(s.startedAt!), 1],
      [Date.parse(s.finishedAt!), -1],
    ]);
    marks.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let open = 0;
    let peak = 0;
    for (const [, delta] of marks) peak = Math.max(peak, (open += delta));
    expect(peak).toBeLessThanOrEqual(2);
    // …and the limit is a limit, not serialisation: two did run together.
    expect(p.max).toBe(2);
  });

  it('admits parked steps after every kind of end: failed, skipped by a condition, upstream_failed', async () => {
    // maxParallel 1: each end below frees the only slot, and the next parked step must follow.
    const run = await engine.run(`
name: throttled-ends
maxParallel: 1
steps:
  - { id: boom, uses: fault, with: { kind: assertion } }
  - { id: after-boom, uses: noop, needs: [boom] }
  - { id: gate, uses: noop }
  - { id: never, uses: noop, needs: [gate], if: "false" }
  - { id: p0, uses: probe, with: { ms: 20 } }
  - { id: p1, uses: probe, with: { ms: 20 } }
  - { id: p2, uses: probe, needs: [never], with: { ms: 20 } }
`);
    expect(run.summary.status).toBe('failed');
    expect(statuses(run)).toEqual({ boom: 'failed', 'after-boom': 'skipped', gate: 'succeeded', never: 'skipped', p0: 'succeeded', p1: 'succeeded', p2: 'succeeded' });
    expect(run.step('after-boom').reason).toBe('upstream_failed');
    expect(probes.get(run.runId)!.max).toBe(1);
  });
});

describe('static step facts the worker sends with a finish', () => {
  it('are what createRun stored in the dag hash, for every kind of step', async () => {
    const def = engine.scenario(`
name: static-entries
groups: { g: { timeoutMs: 5000 } }
steps:
  - { id: a, uses: noop }
  - { id: b, uses: noop, needs: [a], continueOnError: true, group: g }
  - { id: c, uses: noop, needs: [a], if: "steps.a.status == 'succeeded'" }
  - { id: d, uses: noop, needs: [b, c] }
`);
    const run = await engine.run(def);
    expect(run.summary.status).toBe('succeeded');
    const stored = await t.redis.hgetall(createKeys(t.prefix).runScriptKeys(run.runId)[2]);
    const compiled = compileScenario(def);
    for (const id of ['a', 'b', 'c', 'd']) expect(staticOf(compiled.step(id).def, compiled.step(id).dependents), id).toBe(stored[id]);
  });
});
