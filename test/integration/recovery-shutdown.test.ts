import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { createWorker } from '../../src/worker/worker.ts';
import { useTestRedis } from '../support/context.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { startWorker, stopAllWorkers } from '../support/workers.ts';
import { eventsOf, eventually, parseTestScenario, silentLogger, within } from '../support/engine.ts';

const t = useTestRedis('recovery-shutdown');
let client: ScenarioClient;

afterEach(async () => {
  await stopAllWorkers(5_000);
  await client?.close();
});

const parallel = (ms: number) =>
  parseTestScenario(`
name: in-flight
steps:
${Array.from({ length: 3 }, (_, i) => `  - { id: s${i}, uses: sleep, with: { ms: ${ms} }, timeoutMs: 60000 }`).join('\n')}
`);

async function runningOn(runId: string, n: number): Promise<void> {
  await eventually(async () => (await client.status(runId))?.steps.filter((s) => s.status === 'running').length === n, 20_000, `${n} steps running`);
}

describe('graceful shutdown (SPEC §13)', () => {
  it('SIGTERM drains: in-flight attempts finish within the grace on the same worker, exit 0', async () => {
    client = await createClient({ redisUrl: t.url, prefix: t.prefix });
    const a = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 3, env: { SQ_SHUTDOWN_GRACE_MS: '15000' } });
    const { runId } = await client.enqueue(parallel(1_500));
    await runningOn(runId, 3);
    const sent = Date.now();
    a.kill('SIGTERM');
    const exit = await a.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - sent).toBeLessThan(6_000);
    const summary = await within(client.wait(runId), 10_000, 'drained run');
    expect(summary.status).toBe('succeeded');
    expect(summary.steps.every((s) => s.attempts === 1)).toBe(true);
    const events = await eventsOf(client, runId);
    expect(events.filter((e) => e.type === 'step.succeeded').every((e) => e.workerId === a.workerId)).toBe(true);
    expect(events.some((e) => e.type === 'step.queued' && e.data.released)).toBe(false);
  });

  it('SIGTERM past the grace: attempts are given back, another worker runs them without consuming an attempt, exit 0', async () => {
    client = await createClient({ redisUrl: t.url, prefix: t.prefix });
    const a = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 3, env: { SQ_SHUTDOWN_GRACE_MS: '1000' } });
    // Steps long enough to outlast the second worker's start under a loaded CI machine: with
    // 4 s steps a slow start let them finish on the first worker before SIGTERM's grace ended.
    const { runId } = await client.enqueue(parallel(8_000));
    await runningOn(runId, 3);
    const b = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 3 });
    await runningOn(runId, 3);
    const sent = Date.now();
    a.kill('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
    // Grace (1 s) + give-back (≤ 1 s) + cleanup (≤ 0.5 s) + process exit.
    expect(Date.now() - sent).toBeLessThan(4_000);
    const summary = await within(client.wait(runId), 20_000, 'given-back run');
    expect(summary.status).toBe('succeeded');
    expect(summary.steps.map((s) => [s.attempts, s.errors.length])).toEqual([[1, 0], [1, 0], [1, 0]]);
    const events = await eventsOf(client, runId);
    expect(events.filter((e) => e.type === 'step.queued' && e.data.released === 'shutdown')).toHaveLength(3);
    expect(events.filter((e) => e.type === 'step.succeeded').every((e) => e.workerId === b.workerId && e.attempt === 1)).toBe(true);
  });

  it('a second signal forces the exit at once', async () => {
    client = await createClient({ redisUrl: t.url, prefix: t.prefix });
    const a = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 1, env: { SQ_SHUTDOWN_GRACE_MS: '60000' } });
    const { runId } = await client.enqueue(parallel(30_000));
    await runningOn(runId, 1);
    a.kill('SIGTERM');
    await a.waitForLine((l) => l.includes('"draining"'), 5_000);
    const sent = Date.now();
    a.kill('SIGINT');
    const exit = await a.exited;
    expect(exit.code).not.toBe(0);
    expect(Date.now() - sent).toBeLessThan(2_000);
  });
});

describe('worker.close()', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis?.stop());

  it('never hangs past the grace, even when Redis stops answering', async () => {
    client = await createClient({ redisUrl: redis.url, prefix: 'close' });
    const worker = await createWorker({ redisUrl: redis.url, prefix: 'close', logger: silentLogger, concurrency: 2, shutdownGraceMs: 500 });
    const { runId } = await client.enqueue(parallel(20_000));
    await runningOn(runId, 2);
    await redis.kill('SIGSTOP');
    try {
      const started = Date.now();
      await worker.close();
      // grace + give-back + cleanup bounds (docs/recovery.md), plus scheduling slack.
      expect(Date.now() - started).toBeLessThan(500 + 1_000 + 500 + 700);
    } finally {
      await redis.kill('SIGCONT');
    }
  });
});
