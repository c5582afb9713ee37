/**
 * Proof 5 of issue #3: a worker SIGKILLed while it holds a concurrency permit and a budget
 * reservation. Both are leases: they come back within the lease time (the job lock
 * duration), and the run completes on the other workers — which it could not do otherwise,
 * because the service admits one attempt at a time and the budget has room for one call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import { tracked, type TrackedRun } from '../fixtures/handlers/guardrails.ts';
import { useTestRedis } from '../support/context.ts';
import { eventually, parseTestScenario, within } from '../support/engine.ts';
import { startWorkers, stopAllWorkers, type WorkerProcess } from '../support/workers.ts';

const t = useTestRedis('guardrails-crash', { scope: 'file' });
const LEASE_MS = 2_000;
let client: ScenarioClient;
let workers: WorkerProcess[];

beforeAll(async () => {
  workers = await startWorkers(3, {
    redisUrl: t.url,
    prefix: t.prefix,
    concurrency: 2,
    handlers: 'test/fixtures/handlers/guardrails.ts',
    env: { SQ_LOCK_DURATION_MS: String(LEASE_MS), SQ_STALLED_INTERVAL_MS: '500' },
  });
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  await applyServices(client.redis, client.keys, validateServices({ services: { single: { maxConcurrency: 1 } } }));
});

afterAll(async () => {
  await stopAllWorkers();
  await client?.close();
});

/** Redis time in ms: leases are scored with it. */
async function redisNow(): Promise<number> {
  const [s, us] = await t.redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

describe('leases of a SIGKILLed worker', () => {
  it('its permit and reservation lapse within the lease time and the run completes elsewhere', async () => {
    const key = `${t.prefix}:test:crash`;
    const def = parseTestScenario(
      `name: crash\nsteps:\n  - { id: victim, uses: tracked, service: single, cost: { calls: 1 }, with: { key: "${key}", ms: 1500, calls: 1 } }`,
      [tracked],
    );
    const { runId } = await client.enqueue(def, { budget: { calls: 1 } });
    const permits = client.keys.guard.service('single').permits;
    const reservations = client.keys.guard.run(runId).reservations;

    let first: TrackedRun | undefined;
    await eventually(async () => {
      const raw = await t.redis.lindex(`${key}:starts`, 0);
      first = raw ? (JSON.parse(raw) as TrackedRun) : undefined;
      return first !== undefined;
    }, 20_000, 'victim started');
    const [permit] = await t.redis.zrange(permits, 0, -1);
    const [reservation] = await t.redis.zrange(reservations, 0, -1);
    expect(permit).toBeDefined();
    expect(reservation).toBeDefined();

    const victim = workers.find((w) => w.pid === first?.pid);
    expect(victim).toBeDefined();
    victim?.kill('SIGKILL');
    const killedAt = await redisNow();

    // The dead lease is never renewed again: both entries lapse within LEASE_MS of the kill.
    let lapsedAt = 0;
    await eventually(async () => {
      const [p, r] = await Promise.all([t.redis.zscore(permits, permit), t.redis.zscore(reservations, reservation)]);
      const now = await redisNow();
      const held = (p !== null && Number(p) > now) || (r !== null && Number(r) > now);
      if (!held) lapsedAt = now;
      return !held;
    }, 10_000, 'permit and reservation lapse');
    expect(lapsedAt - killedAt).toBeLessThanOrEqual(LEASE_MS + 250);

    const summary = await within(client.wait(runId), 30_000, 'run after the crash');
    expect(summary.status).toBe('succeeded');
    expect(summary.cost.calls).toBe(1);
    const ends = (await t.redis.lrange(`${key}:ends`, 0, -1)).map((s) => JSON.parse(s) as TrackedRun);
    expect(ends).toHaveLength(1);
    expect(ends[0].pid).not.toBe(victim?.pid);
    // Nothing is left held once the run is over.
    const now = await redisNow();
    expect(await t.redis.zcount(permits, `(${now}`, '+inf')).toBe(0);
    expect(await t.redis.zcount(reservations, `(${now}`, '+inf')).toBe(0);
  });
});
