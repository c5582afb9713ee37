/**
 * Proof 7 of issue #3: the kill switch. `halt` stops new attempts on every worker within a
 * second, runs end `halted` once their in-flight attempts finish (or at once with
 * --abort-running), new runs are refused with the reason, and `unhalt` resumes. A daily
 * budget with `onExceed: halt` pulls the same switch.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { createRunStore } from '../../src/engine/store.ts';
import { parseEvent } from '../../src/engine/events.ts';
import { halt, unhalt } from '../../src/guardrails/halt.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import { tracked, type TrackedRun } from '../fixtures/handlers/guardrails.ts';
import { runCli } from '../support/cli.ts';
import { useTestRedis } from '../support/context.ts';
import { eventually, parseTestScenario, within } from '../support/engine.ts';
import { startWorkers, stopAllWorkers } from '../support/workers.ts';

const t = useTestRedis('guardrails-halt', { scope: 'file' });
let client: ScenarioClient;

beforeAll(async () => {
  await startWorkers(3, { redisUrl: t.url, prefix: t.prefix, concurrency: 2, handlers: 'test/fixtures/handlers/guardrails.ts' });
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
});

afterEach(() => unhalt(client.redis, client.keys));

afterAll(async () => {
  await stopAllWorkers();
  await client?.close();
});

function trackedScenario(name: string, key: string, count: number, ms: number, extra = ''): string {
  const steps = Array.from({ length: count }, (_, i) => `  - { id: s${i}, uses: tracked${extra}, with: { key: "${key}", ms: ${ms} } }`);
  return `name: ${name}\nmaxParallel: 6\nsteps:\n${steps.join('\n')}`;
}

const scenario = (yaml: string) => parseTestScenario(yaml, [tracked]);
const starts = async (key: string) => (await t.redis.lrange(`${key}:starts`, 0, -1)).map((s) => JSON.parse(s) as TrackedRun);
const store = () => createRunStore(client.redis, client.keys);

describe('kill switch', () => {
  it('halt stops new attempts on every worker within 1 s; the run ends halted after its in-flight attempts; new runs are refused', async () => {
    const key = `${t.prefix}:test:halt`;
    const { runId } = await client.enqueue(scenario(trackedScenario('halt-me', key, 40, 300)));
    await eventually(async () => (await starts(key)).length >= 8, 20_000, 'steps running');

    await halt(client.redis, client.keys, store(), { reason: 'provider incident INC-42' });
    const haltedAt = Date.now();
    const summary = await within(client.wait(runId), 20_000, 'halted run');
    await new Promise((r) => setTimeout(r, 1_000));

    const all = await starts(key);
    expect(all.filter((s) => s.start > haltedAt + 1_000)).toEqual([]);
    expect(all.length).toBeLessThan(40);
    expect(new Set(all.map((s) => s.pid)).size).toBe(3);
    expect(summary.status).toBe('halted');
    expect(summary.reason).toContain('provider incident INC-42');
    // In-flight attempts finished (not aborted): every started step succeeded.
    const ends = await t.redis.llen(`${key}:ends`);
    expect(ends).toBe(all.length);
    expect(summary.steps.filter((s) => s.status === 'succeeded')).toHaveLength(all.length);
    expect(summary.steps.filter((s) => s.status === 'cancelled')).toHaveLength(40 - all.length);

    await expect(client.enqueue(scenario(trackedScenario('halt-me', key, 1, 0)))).rejects.toThrow(/halted.*provider incident INC-42/);
    const global = ((await t.redis.xrange(client.keys.globalEvents, '-', '+')) as [string, string[]][]).map(([id, f]) => parseEvent(id, f));
    expect(global.find((e) => e.type === 'halt.on')?.data).toMatchObject({ reason: 'provider incident INC-42' });
  });

  it('--abort-running aborts in-flight attempts and ends the run at once', async () => {
    const key = `${t.prefix}:test:abort`;
    const { runId } = await client.enqueue(scenario(trackedScenario('abort-me', key, 4, 20_000)));
    await eventually(async () => (await starts(key)).length === 4, 20_000, 'steps running');
    const result = await runCli(['halt', '--reason', 'stop now', '--abort-running'], { env: { REDIS_URL: t.url, SQ_PREFIX: t.prefix } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('1 run ended now');
    const summary = await within(client.wait(runId), 5_000, 'aborted run');
    expect(summary.status).toBe('halted');
    for (const step of summary.steps) {
      expect(step.status).toBe('cancelled');
      expect(step.errors.map((e) => e.kind)).toEqual(['halted']);
    }
    // The handlers saw their signal abort: none ran to its end.
    await new Promise((r) => setTimeout(r, 500));
    expect(await t.redis.llen(`${key}:ends`)).toBe(0);
  });

  it('unhalt resumes: new runs are accepted and run', async () => {
    await halt(client.redis, client.keys, store(), { reason: 'maintenance' });
    await expect(client.enqueue(scenario(trackedScenario('resume-me', `${t.prefix}:test:r0`, 1, 0)))).rejects.toThrow(/maintenance/);
    const result = await runCli(['unhalt'], { env: { REDIS_URL: t.url, SQ_PREFIX: t.prefix } });
    expect(result.stdout).toContain('unhalted');
    const { runId } = await client.enqueue(scenario(trackedScenario('resume-me', `${t.prefix}:test:r1`, 3, 0)));
    expect((await within(client.wait(runId), 20_000, 'after unhalt')).status).toBe('succeeded');
  });

  it('a scenario halt stops only that scenario', async () => {
    await halt(client.redis, client.keys, store(), { reason: 'flaky journey', scenario: 'journey-a' });
    await expect(client.enqueue(scenario(trackedScenario('journey-a', `${t.prefix}:test:a`, 1, 0)))).rejects.toThrow(/journey-a.*flaky journey/);
    const { runId } = await client.enqueue(scenario(trackedScenario('journey-b', `${t.prefix}:test:b`, 2, 0)));
    expect((await within(client.wait(runId), 20_000, 'other scenario')).status).toBe('succeeded');
  });

  it('a daily budget with onExceed: halt pulls the kill switch', async () => {
    await applyServices(client.redis, client.keys, validateServices({ services: { metered: {} }, budgets: { daily: { calls: 2, onExceed: 'halt' } } }));
    try {
      const key = `${t.prefix}:test:daily`;
      const steps = Array.from({ length: 4 }, (_, i) => `  - { id: d${i}, uses: tracked, service: metered, cost: { calls: 1 }, with: { key: "${key}", calls: 1 }${i > 0 ? `, needs: [d${i - 1}]` : ''} }`);
      const { runId } = await client.enqueue(scenario(`name: daily\nsteps:\n${steps.join('\n')}`));
      const summary = await within(client.wait(runId), 20_000, 'daily budget run');
      expect(summary.status).toBe('halted');
      expect(summary.reason).toMatch(/daily budget exceeded: calls limit 2/);
      expect(summary.cost.calls).toBe(2);
      const halts = await t.redis.hgetall(client.keys.guard.halt);
      expect(JSON.parse(halts['*'])).toMatchObject({ auto: true });
    } finally {
      await applyServices(client.redis, client.keys, validateServices({}));
    }
  });
});
