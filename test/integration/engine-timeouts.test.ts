import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../src/engine/bundle.ts';
import { useTestRedis } from '../support/context.ts';
import { eventsOf, eventually, sleep, startEngine, type Engine, type FinishedRun } from '../support/engine.ts';

const t = useTestRedis('engine-timeouts', { scope: 'file' });
let engine: Engine;
beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 2, concurrency: 8 });
});
afterAll(() => engine?.close());

const statuses = (run: FinishedRun) => Object.fromEntries(run.summary.steps.map((s) => [s.id, s.status]));

describe('timer steps (SPEC §4 sleep)', () => {
  it('sleep waits its ms, then its dependents run', async () => {
    const run = await engine.run(`
name: timer
steps:
  - { id: wait, uses: sleep, with: { ms: 300 } }
  - { id: after, uses: echo, needs: [wait], with: { done: true } }
`);
    expect(run.summary.status).toBe('succeeded');
    expect(run.step('wait').durationMs).toBeGreaterThanOrEqual(290);
    expect(Date.parse(run.step('after').startedAt!)).toBeGreaterThanOrEqual(Date.parse(run.step('wait').finishedAt!));
    expect((await buildBundle(t.redis, engine.client.keys, run.runId))?.outputs.wait).toBeNull();
  });
});

describe('timeouts (SPEC §6)', () => {
  it('attempt: each attempt has its own timeoutMs; after the retries the step is timed_out', async () => {
    const run = await engine.run(`
name: attempt-timeout
steps:
  - id: slow
    uses: fault
    timeoutMs: 200
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 50, jitter: none } }
    with: { hangMs: 20000 }
  - { id: after, uses: noop, needs: [slow] }
`);
    expect(run.summary.status).toBe('failed');
    const slow = run.step('slow');
    expect(slow).toMatchObject({ status: 'timed_out', attempts: 2 });
    expect(slow.errors).toMatchObject([
      { attempt: 1, kind: 'timeout', message: 'attempt timed out after 200ms (timeoutMs)', retryDelayMs: 50 },
      { attempt: 2, kind: 'timeout', message: 'attempt timed out after 200ms (timeoutMs)' },
    ]);
    expect(run.step('after')).toMatchObject({ status: 'skipped', reason: 'upstream_failed' });
    expect(run.events.filter((e) => e.stepId === 'slow').map((e) => e.type)).toEqual([
      'step.queued', 'step.started', 'step.retrying', 'step.started', 'step.timed_out',
    ]);
  });

  it('group: at the deadline the running group step times out, not-started ones are cancelled; the run goes on', async () => {
    const run = await engine.run(`
name: group-timeout
groups:
  checkout: { timeoutMs: 600 }
steps:
  - { id: cart, uses: noop, group: checkout }
  - { id: pay, uses: sleep, group: checkout, needs: [cart], timeoutMs: 30000, with: { ms: 20000 } }
  - { id: confirm, uses: noop, group: checkout, needs: [pay] }
  - { id: receipt, uses: noop, needs: [confirm] }
  - { id: browse, uses: sleep, with: { ms: 1200 } }
`);
    expect(run.summary.status).toBe('failed');
    expect(statuses(run)).toEqual({ cart: 'succeeded', pay: 'timed_out', confirm: 'cancelled', receipt: 'skipped', browse: 'succeeded' });
    const message = 'group "checkout" timed out after 600ms (groups.checkout.timeoutMs)';
    expect(run.step('pay')).toMatchObject({ reason: 'group_timeout', errors: [{ kind: 'timeout', message }] });
    expect(run.step('confirm')).toMatchObject({ reason: 'group_timeout', attempts: 0 });
    expect(run.step('receipt').reason).toBe('upstream_failed');
    expect(run.events.find((e) => e.type === 'step.timed_out')?.data).toMatchObject({ message });
    // Best-effort: the independent branch finished after the group deadline.
    expect(run.events.findIndex((e) => e.type === 'step.succeeded' && e.stepId === 'browse'))
      .toBeGreaterThan(run.events.findIndex((e) => e.type === 'step.timed_out'));
  });

  it('run: at the deadline running steps time out, the rest are cancelled, the run is timed_out', async () => {
    const run = await engine.run(`
name: run-timeout
timeoutMs: 800
steps:
  - { id: first, uses: noop }
  - { id: long, uses: sleep, needs: [first], timeoutMs: 30000, with: { ms: 20000 } }
  - { id: other, uses: sleep, timeoutMs: 30000, with: { ms: 20000 } }
  - { id: after, uses: noop, needs: [long] }
`);
    const message = 'run timed out after 800ms (run timeoutMs)';
    expect(run.summary).toMatchObject({ status: 'timed_out', reason: message });
    expect(statuses(run)).toEqual({ first: 'succeeded', long: 'timed_out', other: 'timed_out', after: 'cancelled' });
    expect(run.step('long')).toMatchObject({ reason: 'run_timeout', errors: [{ kind: 'timeout', message }] });
    expect(run.step('after').attempts).toBe(0);
    expect(run.events.at(-1)).toMatchObject({ type: 'run.timed_out', data: { reason: message } });
    await eventually(() => engine.workers.every((w) => w.inflight === 0), 5_000, 'aborted sleeps released');
  });

  it('run: a timeout given at enqueue (--timeout) overrides the scenario and is the one named', async () => {
    const run = await engine.run(
      `
name: run-timeout-override
timeoutMs: 600000
steps:
  - { id: long, uses: sleep, timeoutMs: 30000, with: { ms: 20000 } }
`,
      { timeoutMs: 500 },
    );
    expect(run.summary).toMatchObject({ status: 'timed_out', reason: 'run timed out after 500ms (run timeoutMs)' });
    expect(run.step('long').status).toBe('timed_out');
  });

  it('a handler that ignores its signal is abandoned at the deadline and its late result discarded', async () => {
    const hangMs = 3000;
    const startedAt = Date.now();
    const [attemptLevel, runLevel] = await Promise.all([
      engine.run(`
name: stubborn-attempt
steps:
  - { id: deaf, uses: fault, timeoutMs: 200, with: { hangMs: ${hangMs}, ignoreAbort: true, output: { late: true } } }
`),
      engine.run(`
name: stubborn-run
timeoutMs: 500
steps:
  - { id: deaf, uses: fault, timeoutMs: 30000, with: { hangMs: ${hangMs}, ignoreAbort: true, output: { late: true } } }
`),
    ]);
    // Both verdicts came at their deadlines, not when the handlers returned.
    expect(Date.now() - startedAt).toBeLessThan(hangMs);
    expect(attemptLevel.summary.status).toBe('failed');
    expect(attemptLevel.step('deaf')).toMatchObject({ status: 'timed_out', attempts: 1, errors: [{ kind: 'timeout', message: 'attempt timed out after 200ms (timeoutMs)' }] });
    expect(runLevel.summary.status).toBe('timed_out');
    expect(runLevel.step('deaf')).toMatchObject({ status: 'timed_out', errors: [{ kind: 'timeout', message: 'run timed out after 500ms (run timeoutMs)' }] });
    // The worker slots were freed at the deadline, while the handlers still hang.
    await eventually(() => engine.workers.every((w) => w.inflight === 0), 2_000, 'abandoned attempts released');

    // After the handlers did return, nothing changed: no output, no new event, same summary.
    await sleep(Math.max(0, startedAt + hangMs + 500 - Date.now()));
    for (const run of [attemptLevel, runLevel]) {
      expect(await t.redis.hget(engine.client.keys.runOutputs(run.runId), 'deaf')).toBeNull();
      expect((await eventsOf(engine.client, run.runId)).length).toBe(run.events.length);
      expect(await engine.client.status(run.runId)).toEqual(run.summary);
    }
  });
});
