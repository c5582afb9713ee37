/**
 * Proofs 2, 3 and 4 of issue #3, on three real worker processes: a service's
 * maxConcurrency, rateLimit and circuit breaker hold across all of them. The `tracked`
 * handler records when each execution started and ended, so the tests count what really
 * ran, not what the guardrails believe.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { libraryNamePrefix } from '../../src/redis/functions.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import { parseEvent } from '../../src/engine/events.ts';
import type { ScenarioEvent } from '../../src/engine/types.ts';
import { tracked as trackedHandler, type TrackedRun } from '../fixtures/handlers/guardrails.ts';
import type { GuardStatus } from '../../src/guardrails/status.ts';
import { runCli } from '../support/cli.ts';
import { useTestRedis } from '../support/context.ts';
import { parseTestScenario, within } from '../support/engine.ts';
import { startWorkers, stopAllWorkers } from '../support/workers.ts';

const t = useTestRedis('guardrails-services', { scope: 'file' });
let client: ScenarioClient;

const K = 3;
const RATE = { max: 3, perMs: 1000 };
const BREAKER = { failureThreshold: 3, windowMs: 30_000, resetTimeoutMs: 1_000, halfOpenMaxCalls: 1 };

beforeAll(async () => {
  await startWorkers(3, { redisUrl: t.url, prefix: t.prefix, concurrency: 4, handlers: 'test/fixtures/handlers/guardrails.ts' });
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  await applyServices(
    client.redis,
    client.keys,
    validateServices({
      services: {
        slow: { maxConcurrency: K },
        rated: { rateLimit: RATE },
        flaky: { circuitBreaker: { ...BREAKER, whenOpen: 'wait' } },
        fragile: { circuitBreaker: { ...BREAKER, failureThreshold: 1, resetTimeoutMs: 60_000, whenOpen: 'fail' } },
      },
    }),
  );
});

afterAll(async () => {
  await stopAllWorkers();
  await client?.close();
});

/** A scenario of `count` parallel `tracked` steps on one service. */
function trackedRun(name: string, service: string, count: number, withFields: string, retry = 1): string {
  const steps = Array.from({ length: count }, (_, i) => `  - { id: s${i}, uses: tracked, service: ${service}, with: { ${withFields} } }`);
  return `name: ${name}\nmaxParallel: ${count}\ndefaults: { retry: { attempts: ${retry}, backoff: { type: fixed, delayMs: 10 } } }\nsteps:\n${steps.join('\n')}`;
}

async function tracked(key: string, which: 'starts' | 'ends'): Promise<TrackedRun[]> {
  return (await t.redis.lrange(`${key}:${which}`, 0, -1)).map((s) => JSON.parse(s) as TrackedRun);
}

/** The most executions in flight at once: +1 at each start, -1 at each end (an end at the same ms first). */
function peakInFlight(runs: readonly TrackedRun[]): number {
  const edges = runs.flatMap((r) => [[r.start, 1] as const, [r.end as number, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let inFlight = 0;
  let peak = 0;
  for (const [, delta] of edges) peak = Math.max(peak, (inFlight += delta));
  return peak;
}

async function run(yaml: string, waitMs = 40_000) {
  const { runId } = await client.enqueue(parseTestScenario(yaml, [trackedHandler]));
  return { runId, summary: await within(client.wait(runId), waitMs, yaml.split('\n')[0]) };
}

/** Circuit events of one service from the global stream, oldest first. */
async function circuitEvents(service: string): Promise<ScenarioEvent[]> {
  const entries = (await t.redis.xrange(client.keys.globalEvents, '-', '+')) as [string, string[]][];
  return entries.map(([id, fields]) => parseEvent(id, fields)).filter((e) => e.type.startsWith('circuit.') && e.data.service === service);
}

describe('service limits across worker processes', () => {
  it(`maxConcurrency: ${K} — the peak of executions in flight is exactly ${K}`, async () => {
    const key = `${t.prefix}:test:conc`;
    const { summary } = await run(trackedRun('concurrency', 'slow', 12, `key: "${key}", ms: 600`));
    expect(summary.status).toBe('succeeded');
    const ends = await tracked(key, 'ends');
    expect(ends).toHaveLength(12);
    expect(peakInFlight(ends)).toBe(K);
    // Several processes took part, so the limit is cluster-wide, not per worker.
    expect(new Set(ends.map((r) => r.pid)).size).toBeGreaterThan(1);
    // Waiting never consumed an attempt.
    for (const step of summary.steps) expect(step.attempts).toBe(1);
    // The guard's Function library (src/guardrails/guard-functions.ts) is loaded when a worker
    // starts and recorded in its heartbeat. (These steps, of a service and a handler without an
    // estimate, are admitted as their jobs are handed over, in the fused completion's library;
    // engine-fused-completion.test.ts counts which calls ran.)
    const libraries = (await client.redis.call('FUNCTION', 'LIST', 'WITHCODE')) as unknown[][];
    const guard = libraries.map((l) => [String(l[l.indexOf('library_name') + 1]), String(l[l.indexOf('library_code') + 1])]).find(([name, code]) => name.startsWith(libraryNamePrefix(client.keys.prefix)) && code.includes("if op == 'settle' then return settleAttempt(keys, args) end"));
    expect(guard).toBeDefined();
    expect(await client.redis.hexists(client.keys.functions, guard![0])).toBe(1);
  });

  it(`rateLimit: ${RATE.max} per ${RATE.perMs}ms — no window of ${RATE.perMs}ms holds more than ${RATE.max} starts`, async () => {
    const key = `${t.prefix}:test:rate`;
    const n = 10;
    const { summary } = await run(trackedRun('rate', 'rated', n, `key: "${key}"`));
    expect(summary.status).toBe('succeeded');
    const starts = (await tracked(key, 'starts')).map((r) => r.start).sort((a, b) => a - b);
    expect(starts).toHaveLength(n);
    for (let i = 0; i < starts.length; i++) {
      const inWindow = starts.filter((s) => s >= starts[i] && s < starts[i] + RATE.perMs).length;
      expect(inWindow, `window from start #${i}`).toBeLessThanOrEqual(RATE.max);
    }
    // The limiter paced them rather than refusing: all ran, over ceil(n/max)-1 windows at least.
    expect(starts[n - 1] - starts[0]).toBeGreaterThanOrEqual((Math.ceil(n / RATE.max) - 1) * RATE.perMs);
    for (const step of summary.steps) expect(step.attempts).toBe(1);
  });

  it('circuit breaker: opens once at the threshold, waits, half-opens for one probe, closes on success, reopens on failure', async () => {
    const key = `${t.prefix}:test:cb`;
    const down = `${t.prefix}:test:cb:down`;
    await t.redis.set(down, '1');

    // Six transient failures racing from three processes: exactly one transition.
    const failing = await run(trackedRun('breaker-trip', 'flaky', 6, `key: "${key}:a", failWhile: "${down}"`));
    expect(failing.summary.status).toBe('failed');
    expect((await circuitEvents('flaky')).map((e) => e.type)).toEqual(['circuit.opened']);
    const openedAt = (await circuitEvents('flaky'))[0].ts;

    // While open, steps wait without consuming attempts; the first probe fails and reopens.
    const waiting = client.enqueue(parseTestScenario(trackedRun('breaker-wait', 'flaky', 3, `key: "${key}:b", failWhile: "${down}"`, 3), [trackedHandler]));
    const { runId } = await waiting;
    await within(
      (async () => {
        while ((await circuitEvents('flaky')).length < 3) await new Promise((r) => setTimeout(r, 50));
      })(),
      20_000,
      'probe reopens the circuit',
    );
    await t.redis.set(down, '0');
    const summary = await within(client.wait(runId), 30_000, 'breaker-wait');

    const events = await circuitEvents('flaky');
    expect(events.map((e) => e.type)).toEqual(['circuit.opened', 'circuit.half_open', 'circuit.opened', 'circuit.half_open', 'circuit.closed']);
    expect(events[2].data).toMatchObject({ from: 'half_open', probe: 'failed' });
    expect(events[4].data).toMatchObject({ from: 'half_open', probe: 'succeeded' });
    const starts = (await tracked(`${key}:b`, 'starts')).sort((a, b) => a.start - b.start);
    // Nothing ran before the reset timeout; each half-open period let exactly one probe through.
    expect(starts[0].start).toBeGreaterThanOrEqual(openedAt + BREAKER.resetTimeoutMs - 5);
    const during = (from: ScenarioEvent, to: ScenarioEvent) => starts.filter((s) => s.start >= from.ts && s.start < to.ts).length;
    expect(during(events[1], events[2])).toBe(1);
    expect(during(events[3], events[4])).toBe(1);
    expect(summary.status).toBe('succeeded');
    // Only the failed probe cost an attempt; waiting cost none.
    expect(summary.steps.map((s) => s.attempts).sort()).toEqual([1, 1, 2]);
  });

  it('circuit breaker with whenOpen: fail — steps fail fast with circuit_open, never started, never retried', async () => {
    const key = `${t.prefix}:test:cbfail`;
    const down = `${t.prefix}:test:cbfail:down`;
    await t.redis.set(down, '1');
    await run(trackedRun('fragile-trip', 'fragile', 1, `key: "${key}:a", failWhile: "${down}"`));
    expect((await circuitEvents('fragile')).map((e) => e.type)).toEqual(['circuit.opened']);

    const { summary } = await run(trackedRun('fragile-fast', 'fragile', 2, `key: "${key}:b"`, 3));
    expect(summary.status).toBe('failed');
    for (const step of summary.steps) {
      expect(step.attempts).toBe(1);
      expect(step.errors.map((e) => e.kind)).toEqual(['circuit_open']);
    }
    expect(await tracked(`${key}:b`, 'starts')).toHaveLength(0);
  });

  it('services apply names each problem by its path (exit 2); status shows the breakers; reset closes one', async () => {
    const env = { REDIS_URL: t.url, SQ_PREFIX: t.prefix };
    const bad = join(mkdtempSync(join(tmpdir(), 'sq-services-')), 'services.yaml');
    writeFileSync(bad, 'services:\n  slow: { maxConcurrency: 0, rateLimit: { max: 1 } }\n');
    const [rejected, shown] = await Promise.all([runCli(['services', 'apply', bad], { env }), runCli(['services', 'status', '--json'], { env })]);
    expect(rejected.code).toBe(2);
    expect(rejected.stderr).toContain(`${bad}: services.slow.maxConcurrency: must be ≥ 1, got 0`);
    expect(rejected.stderr).toContain(`${bad}: services.slow.rateLimit.perMs: is required`);
    const status = JSON.parse(shown.stdout) as GuardStatus;
    const byName = Object.fromEntries(status.services.map((s) => [s.name, s]));
    expect(byName.slow).toMatchObject({ inFlight: 0, policy: { maxConcurrency: K } });
    expect(byName.rated.windowUse).toMatchObject({ max: RATE.max, perMs: RATE.perMs });
    expect(byName.flaky.breaker).toMatchObject({ state: 'closed', transitions: { open: 2, half_open: 2, closed: 1 } });
    expect(byName.fragile.breaker?.state).toBe('open');
    expect(byName.fragile.counters.circuit_rejected).toBe(2);

    const reset = await runCli(['services', 'reset', 'fragile'], { env });
    expect(reset.stdout).toContain('circuit of fragile closed (was open)');
    expect((await circuitEvents('fragile')).map((e) => [e.type, e.data.manual])).toEqual([
      ['circuit.opened', undefined],
      ['circuit.closed', true],
    ]);
  });

  it('maxConcurrentCalls holds across services and workers, and a re-apply is live without a restart', async () => {
    await applyServices(client.redis, client.keys, validateServices({ services: { left: {}, right: {} }, maxConcurrentCalls: 2 }));
    const key = `${t.prefix}:test:calls`;
    const steps = Array.from({ length: 8 }, (_, i) => `  - { id: m${i}, uses: tracked, service: ${i % 2 ? 'left' : 'right'}, with: { key: "${key}", ms: 400 } }`);
    const { runId } = await client.enqueue(parseTestScenario(`name: all-calls\nmaxParallel: 8\nsteps:\n${steps.join('\n')}`, [trackedHandler]));
    expect((await within(client.wait(runId), 30_000, 'all-calls')).status).toBe('succeeded');
    expect(peakInFlight(await tracked(key, 'ends'))).toBe(2);
  });
});
