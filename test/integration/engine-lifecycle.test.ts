import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client.ts';
import { createWorker } from '../../src/worker/worker.ts';
import { useTestRedis } from '../support/context.ts';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { eventsOf, eventually, silentLogger, sleep, startEngine, waitForEvent, within, type Engine } from '../support/engine.ts';

const t = useTestRedis('engine-lifecycle', { scope: 'file' });
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 2, concurrency: 4 });
});
afterAll(() => engine?.close());

describe('run lifecycle (SPEC §5)', () => {
  it('a run waits queued until a worker exists, then starts and succeeds', async () => {
    // Own prefix without workers: nothing may start until one is created.
    const prefix = uniquePrefix('engine-lifecycle-late');
    const client = await createClient({ redisUrl: t.url, prefix });
    try {
      const def = engine.scenario(`
name: late-worker
steps:
  - { id: a, uses: echo, with: { v: 1 } }
  - { id: b, uses: noop, needs: [a] }
`);
      const { runId } = await client.enqueue(def);
      const queued = await client.status(runId);
      expect(queued?.status).toBe('queued');
      expect(queued?.steps.map((s) => [s.id, s.status])).toEqual([['a', 'queued'], ['b', 'pending']]);
      expect(queued?.startedAt).toBeUndefined();

      const worker = await createWorker({ redisUrl: t.url, prefix, logger: silentLogger, shutdownGraceMs: 1_000 });
      try {
        const summary = await within(client.wait(runId), 20_000, 'late run');
        expect(summary.status).toBe('succeeded');
        expect(summary.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([['a', 'succeeded', 1], ['b', 'succeeded', 1]]);
        expect(summary.startedAt).toBeDefined();
        expect(Date.parse(summary.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(summary.startedAt!));
        expect(summary.durationMs).toBeGreaterThanOrEqual(0);
      } finally {
        await worker.close();
      }
    } finally {
      await client.close();
      await cleanupPrefix(t.url, prefix);
    }
  });

  it('a run whose steps all succeed ends succeeded with the §15 summary shape', async () => {
    const run = await engine.run(`
name: all-good
steps:
  - { id: first, uses: echo, with: { hello: world } }
  - { id: second, uses: noop, needs: [first] }
`);
    expect(run.summary).toMatchObject({
      runId: run.runId,
      scenario: 'all-good',
      status: 'succeeded',
      cost: { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 },
    });
    expect(typeof run.summary.startedAt).toBe('string');
    expect(typeof run.summary.finishedAt).toBe('string');
    expect(typeof run.summary.durationMs).toBe('number');
    expect(run.step('first')).toMatchObject({ id: 'first', status: 'succeeded', attempts: 1, errors: [] });
    expect(typeof run.step('first').durationMs).toBe('number');
  });

  it('a run with a failing step ends failed and names the error', async () => {
    const run = await engine.run(`
name: one-bad
steps:
  - { id: ok, uses: noop }
  - id: bad
    uses: fault
    needs: [ok]
    with: { kind: assertion, message: "expected 200, got 500" }
`);
    expect(run.summary.status).toBe('failed');
    expect(run.step('ok').status).toBe('succeeded');
    expect(run.step('bad')).toMatchObject({
      status: 'failed',
      attempts: 1,
      errors: [{ attempt: 1, kind: 'assertion', message: 'expected 200, got 500' }],
    });
  });

  it('cancel ends a run at once: the running sleep is cancelled, the rest too', async () => {
    const def = engine.scenario(`
name: cancel-me
steps:
  - { id: nap, uses: sleep, timeoutMs: 120000, with: { ms: 60000 } }
  - { id: after, uses: noop, needs: [nap] }
  - { id: side, uses: noop }
`);
    const { runId } = await engine.client.enqueue(def);
    await waitForEvent(engine.client, runId, (e) => e.type === 'step.started' && e.stepId === 'nap');
    const running = await engine.client.status(runId);
    expect(running?.status).toBe('running');
    expect(running?.steps.find((s) => s.id === 'nap')?.status).toBe('running');

    const cancelledAt = Date.now();
    expect(await engine.client.cancel(runId, 'stop please')).toBe(true);
    const summary = await within(engine.client.wait(runId), 10_000, 'cancelled run');
    // A 60 s sleep must not hold the verdict; generous bound for a loaded machine.
    expect(Date.now() - cancelledAt).toBeLessThan(8_000);
    expect(summary.status).toBe('cancelled');
    expect(summary.reason).toBe('stop please');
    expect(summary.steps.find((s) => s.id === 'nap')).toMatchObject({ status: 'cancelled', reason: 'cancelled' });
    expect(summary.steps.find((s) => s.id === 'after')?.status).toBe('cancelled');
    expect(summary.steps.find((s) => s.id === 'side')?.status).toBe('succeeded');

    // The worker let go of the aborted sleep, and its late end changed nothing.
    await eventually(() => engine.workers.every((w) => w.inflight === 0), 5_000, 'attempts released');
    const types = (await eventsOf(engine.client, runId)).map((e) => e.type);
    expect(types.at(-1)).toBe('run.cancelled');
    expect(types.filter((type) => type.startsWith('run.') && type !== 'run.queued' && type !== 'run.started')).toEqual(['run.cancelled']);
    expect(await engine.client.cancel(runId)).toBe(false);
  });

  it('cancel during a retry backoff ends the step cancelled; the delayed retry never starts', async () => {
    const def = engine.scenario(`
name: cancel-backoff
steps:
  - id: flaky
    uses: fault
    retry: { attempts: 3, backoff: { type: fixed, delayMs: 600, jitter: none } }
    with: { kind: server_error }
`);
    const { runId } = await engine.client.enqueue(def);
    await waitForEvent(engine.client, runId, (e) => e.type === 'step.retrying');
    expect(await engine.client.cancel(runId)).toBe(true);
    const summary = await within(engine.client.wait(runId), 10_000, 'cancelled in backoff');
    expect(summary.status).toBe('cancelled');
    expect(summary.steps[0]).toMatchObject({ status: 'cancelled', attempts: 1 });
    await sleep(900);
    const started = (await eventsOf(engine.client, runId)).filter((e) => e.type === 'step.started');
    expect(started).toHaveLength(1);
  });

  it('cancel of a run no worker has started yet ends it at once', async () => {
    const prefix = uniquePrefix('engine-lifecycle-idle');
    const client = await createClient({ redisUrl: t.url, prefix });
    try {
      const { runId } = await client.enqueue(engine.scenario(`
name: never-started
steps:
  - { id: a, uses: noop }
  - { id: b, uses: noop, needs: [a] }
`));
      expect(await client.cancel(runId)).toBe(true);
      const summary = await within(client.wait(runId), 5_000, 'idle cancel');
      expect(summary.status).toBe('cancelled');
      expect(summary.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([['a', 'cancelled', 0], ['b', 'cancelled', 0]]);
    } finally {
      await client.close();
      await cleanupPrefix(t.url, prefix);
    }
  });

  it('a worker that shuts down gives its running attempt back uncounted; another worker finishes it', async () => {
    const prefix = uniquePrefix('engine-lifecycle-drain');
    const client = await createClient({ redisUrl: t.url, prefix });
    const options = { redisUrl: t.url, prefix, logger: silentLogger, shutdownGraceMs: 200 };
    const first = await createWorker(options);
    let second: Awaited<ReturnType<typeof createWorker>> | undefined;
    try {
      const { runId } = await client.enqueue(engine.scenario(`
name: given-back
steps:
  - { id: nap, uses: sleep, with: { ms: 1000 } }
  - { id: after, uses: noop, needs: [nap] }
`));
      await waitForEvent(client, runId, (e) => e.type === 'step.started');
      await first.close();
      second = await createWorker(options);
      const summary = await within(client.wait(runId), 15_000, 'given-back run');
      expect(summary.status).toBe('succeeded');
      expect(summary.steps[0]).toMatchObject({ id: 'nap', status: 'succeeded', attempts: 1, errors: [] });
      const nap = (await eventsOf(client, runId)).filter((e) => e.stepId === 'nap');
      expect(nap.map((e) => [e.type, e.attempt, e.workerId])).toEqual([
        ['step.queued', 1, undefined],
        ['step.started', 1, first.workerId],
        ['step.queued', 1, first.workerId],
        ['step.started', 1, second.workerId],
        ['step.succeeded', 1, second.workerId],
      ]);
      expect(nap[2].data).toEqual({ released: 'shutdown' });
    } finally {
      await first.close();
      await second?.close();
      await client.close();
      await cleanupPrefix(t.url, prefix);
    }
  });

  it('status of an unknown run is undefined', async () => {
    expect(await engine.client.status('no-such-run')).toBeUndefined();
  });
});
