import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { ServicesConfig } from '../../src/guardrails/services-schema.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { useTestRedis } from '../support/context.ts';
import { startWorker, stopAllWorkers } from '../support/workers.ts';
import { parseSamples, valueOf, type Sample } from '../support/prometheus.ts';

const t = useTestRedis('metrics-guardrails', { scope: 'file' });
const HANDLERS = 'test/fixtures/metrics/handlers.ts';
const known = { knownHandlers: ['noop', 'fault', 'spend'] };

let client: ScenarioClient;
let metricsUrl: string;

async function scrape(): Promise<Sample[]> {
  return parseSamples(await (await fetch(metricsUrl)).text());
}

/** Runs `yaml` to its end and returns the metrics before and once `moved` says they caught up. */
async function runAndScrape(yaml: string, moved: (before: Sample[], after: Sample[]) => boolean) {
  const before = await scrape();
  const { runId } = await client.enqueue(parseScenario(yaml, known));
  const summary = await client.wait(runId);
  const deadline = Date.now() + 10_000;
  let after = await scrape();
  while (!moved(before, after) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    after = await scrape();
  }
  const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
  return { summary, after, delta };
}

beforeAll(async () => {
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  const config = ServicesConfig.parse({
    services: {
      'flaky-api': { circuitBreaker: { failureThreshold: 2, windowMs: 60_000, resetTimeoutMs: 600_000, halfOpenMaxCalls: 1, whenOpen: 'fail' } },
      'slow-api': { rateLimit: { max: 1, perMs: 500 } },
    },
  });
  await applyServices(client.redis, client.keys, config);
  const worker = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 2, handlers: HANDLERS, args: ['--metrics-port', '0'] });
  const line = await worker.waitForLine((l) => l.includes('"metrics server listening"'));
  metricsUrl = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}/metrics`;
});

afterAll(async () => {
  await client?.close();
  await stopAllWorkers();
});

describe('guardrail metrics', () => {
  it('counts the breaker opening and reports it open at scrape time', async () => {
    const runs = { scenario: 'metrics-breaker', status: 'failed' };
    const { summary, after, delta } = await runAndScrape(
      `
name: metrics-breaker
steps:
  - id: call
    uses: fault
    service: flaky-api
    with: { kind: server_error }
    retry: { attempts: 3, backoff: { type: fixed, delayMs: 10, jitter: none } }
`,
      (b, a) => valueOf(a, 'sq_runs_total', runs) > valueOf(b, 'sq_runs_total', runs),
    );
    expect(summary.steps[0].errors.map((e) => e.kind)).toEqual(['server_error', 'server_error', 'circuit_open']);
    expect(delta('sq_circuit_transitions_total', { service: 'flaky-api', to: 'open' })).toBe(1);
    expect(valueOf(after, 'sq_circuit_state', { service: 'flaky-api' })).toBe(2);
    expect(delta('sq_step_retries_total', { handler: 'fault', service: 'flaky-api', kind: 'server_error' })).toBe(2);
    expect(delta('sq_steps_total', { handler: 'fault', service: 'flaky-api', status: 'failed' })).toBe(1);
  });

  it('counts a budget refusal by scope, resource and action', async () => {
    const runs = { scenario: 'metrics-budget', status: 'failed' };
    const { delta } = await runAndScrape(
      `
name: metrics-budget
budget: { calls: 1, onExceed: fail }
steps:
  - { id: first, uses: spend, cost: { calls: 1 }, with: { calls: 1 } }
  - { id: second, uses: spend, needs: [first], cost: { calls: 1 }, with: { calls: 1 } }
`,
      (b, a) => valueOf(a, 'sq_runs_total', runs) > valueOf(b, 'sq_runs_total', runs),
    );
    expect(delta('sq_budget_exceeded_total', { scope: 'run', resource: 'calls', action: 'fail' })).toBe(1);
    expect(delta('sq_cost_calls_total', { scenario: 'metrics-budget', service: 'none' })).toBe(1);
  });

  it('counts credential gates that skip a step or run it mocked', async () => {
    const runs = { scenario: 'metrics-gate', status: 'succeeded' };
    const { summary, delta } = await runAndScrape(
      `
name: metrics-gate
steps:
  - { id: needs-key, uses: noop, credentials: [SQ_METRICS_TEST_ABSENT_KEY], onMissingCredentials: skip }
  - { id: mocked, uses: noop, credentials: [SQ_METRICS_TEST_ABSENT_KEY], onMissingCredentials: mock, mock: { output: { ok: true } } }
  - { id: plain, uses: noop }
`,
      (b, a) => valueOf(a, 'sq_runs_total', runs) > valueOf(b, 'sq_runs_total', runs),
    );
    expect(summary.steps[0]).toMatchObject({ status: 'skipped', reason: 'credentials_missing' });
    expect(summary.steps[1]).toMatchObject({ status: 'succeeded' });
    expect(delta('sq_credential_gate_total', { action: 'skip' })).toBe(1);
    expect(delta('sq_credential_gate_total', { action: 'mock' })).toBe(1);
  });

  it('counts attempts held back by a rate limit', async () => {
    const runs = { scenario: 'metrics-rate', status: 'succeeded' };
    const { delta } = await runAndScrape(
      `
name: metrics-rate
steps:
  - { id: a, uses: noop, service: slow-api }
  - { id: b, uses: noop, service: slow-api }
  - { id: c, uses: noop, service: slow-api }
`,
      (b, a) => valueOf(a, 'sq_runs_total', runs) > valueOf(b, 'sq_runs_total', runs),
    );
    // One start per 500 ms: the two others are held back at least once each.
    expect(delta('sq_rate_limited_total', { service: 'slow-api' })).toBeGreaterThanOrEqual(2);
    expect(delta('sq_steps_total', { handler: 'noop', service: 'slow-api', status: 'succeeded' })).toBe(3);
  });
});
