import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { useTestRedis } from '../support/context.ts';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { startWorker, stopAllWorkers, type WorkerProcess } from '../support/workers.ts';
import { hasPromtool, parseSamples, promtoolCheck, valueOf, type Sample } from '../support/prometheus.ts';

const t = useTestRedis('metrics-worker', { scope: 'file' });
const HANDLERS = 'test/fixtures/metrics/handlers.ts';
const known = { knownHandlers: ['noop', 'echo', 'fault', 'sleep', 'assert', 'spend'] };

// 3 attempts of `bill` (2 retried), each billed 0.125 USD, 100 + 20 tokens, 1 call;
// one `ship` attempt billed 0.5 USD and 2 calls; one `flaky` fault retried once on `network`.
const billing = parseScenario(
  `
name: metrics-billing
defaults:
  retry: { attempts: 3, backoff: { type: fixed, delayMs: 20, jitter: none } }
steps:
  - id: bill
    uses: spend
    service: openai
    with: { usd: 0.125, input: 100, output: 20, calls: 1, failTimes: 2 }
  - id: ship
    uses: spend
    service: payments
    needs: [bill]
    with: { usd: 0.5, calls: 2 }
  - id: flaky
    uses: fault
    with: { failTimes: 1, kind: network }
`,
  known,
);

const broken = parseScenario(
  `
name: metrics-broken
steps:
  - id: check
    uses: fault
    with: { kind: assertion }
  - id: after
    uses: noop
    needs: [check]
`,
  known,
);

let worker: WorkerProcess;
let client: ScenarioClient;
let metricsUrl: string;

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(metricsUrl);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  return { text, samples: parseSamples(text) };
}

/** Scrapes until `ready` holds: event-derived metrics follow the stream by up to one read. */
async function scrapeUntil(ready: (samples: Sample[]) => boolean, timeoutMs = 10_000): Promise<{ text: string; samples: Sample[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const scraped = await scrape();
    if (ready(scraped.samples) || Date.now() > deadline) return scraped;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function metricsPort(w: WorkerProcess): Promise<number> {
  return w
    .waitForLine((l) => l.includes('"metrics server listening"'))
    .then((line) => (JSON.parse(line) as { port: number }).port);
}

beforeAll(async () => {
  worker = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 4, handlers: HANDLERS, args: ['--metrics-port', '0'] });
  metricsUrl = `http://127.0.0.1:${await metricsPort(worker)}/metrics`;
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
});

afterAll(async () => {
  await client?.close();
  await stopAllWorkers();
});

describe('worker /metrics', () => {
  it('moves retries by kind and cost by scenario and service by exactly what a known run did', async () => {
    const before = (await scrape()).samples;
    const { runId } = await client.enqueue(billing);
    const summary = await client.wait(runId);
    expect(summary.status).toBe('succeeded');

    const runs = { scenario: 'metrics-billing', status: 'succeeded' };
    const after = (await scrapeUntil((s) => valueOf(s, 'sq_runs_total', runs) > valueOf(before, 'sq_runs_total', runs))).samples;
    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);

    expect(delta('sq_step_retries_total', { handler: 'spend', service: 'openai', kind: 'server_error' })).toBe(2);
    expect(delta('sq_step_retries_total', { handler: 'fault', service: 'none', kind: 'network' })).toBe(1);
    expect(delta('sq_cost_usd_total', { scenario: 'metrics-billing', service: 'openai' })).toBeCloseTo(0.375, 12);
    expect(delta('sq_cost_usd_total', { scenario: 'metrics-billing', service: 'payments' })).toBeCloseTo(0.5, 12);
    expect(delta('sq_cost_tokens_total', { scenario: 'metrics-billing', service: 'openai', direction: 'input' })).toBe(300);
    expect(delta('sq_cost_tokens_total', { scenario: 'metrics-billing', service: 'openai', direction: 'output' })).toBe(60);
    expect(delta('sq_cost_calls_total', { scenario: 'metrics-billing', service: 'openai' })).toBe(3);
    expect(delta('sq_cost_calls_total', { scenario: 'metrics-billing', service: 'payments' })).toBe(2);
    expect(delta('sq_runs_total', runs)).toBe(1);
    expect(delta('sq_run_duration_seconds_count', runs)).toBe(1);
    expect(delta('sq_steps_total', { handler: 'spend', service: 'openai', status: 'succeeded' })).toBe(1);
    expect(delta('sq_steps_total', { handler: 'spend', service: 'payments', status: 'succeeded' })).toBe(1);
    expect(delta('sq_steps_total', { handler: 'fault', service: 'none', status: 'succeeded' })).toBe(1);
    expect(delta('sq_step_duration_seconds_count', { handler: 'spend', service: 'openai', status: 'succeeded' })).toBe(1);
    expect(valueOf(after, 'sq_service_in_flight', { service: 'openai' })).toBe(0);
    // Labels never carry ids.
    for (const s of after) for (const v of Object.values(s.labels)) expect(v).not.toContain(runId);
  });

  it('counts failed runs, failed and skipped steps, and reports queue depth at scrape time', async () => {
    const before = (await scrape()).samples;
    const { runId } = await client.enqueue(broken);
    expect((await client.wait(runId)).status).toBe('failed');
    const runs = { scenario: 'metrics-broken', status: 'failed' };
    const after = (await scrapeUntil((s) => valueOf(s, 'sq_runs_total', runs) > valueOf(before, 'sq_runs_total', runs))).samples;
    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('sq_runs_total', runs)).toBe(1);
    expect(delta('sq_steps_total', { handler: 'fault', service: 'none', status: 'failed' })).toBe(1);
    expect(delta('sq_steps_total', { handler: 'noop', service: 'none', status: 'skipped' })).toBe(1);
    expect(delta('sq_step_retries_total', { handler: 'fault', service: 'none', kind: 'assertion' })).toBe(0);
    const states = after.filter((s) => s.name === 'sq_queue_jobs' && s.labels.queue === 'steps').map((s) => s.labels.state);
    expect(states).toEqual(expect.arrayContaining(['wait', 'active', 'delayed', 'failed']));
  });

  it('counts a run cancelled by a client, which no worker committed', async () => {
    const slow = parseScenario('name: metrics-cancel\nsteps:\n  - id: wait\n    uses: sleep\n    with: { ms: 30000 }\n', known);
    const before = (await scrape()).samples;
    const { runId } = await client.enqueue(slow);
    await waitForStatus(client, runId, 'running');
    expect(await client.cancel(runId)).toBe(true);
    const runs = { scenario: 'metrics-cancel', status: 'cancelled' };
    const after = (await scrapeUntil((s) => valueOf(s, 'sq_runs_total', runs) > valueOf(before, 'sq_runs_total', runs))).samples;
    expect(valueOf(after, 'sq_runs_total', runs) - valueOf(before, 'sq_runs_total', runs)).toBe(1);
    expect(valueOf(after, 'sq_steps_total', { handler: 'sleep', service: 'none', status: 'cancelled' }) - valueOf(before, 'sq_steps_total', { handler: 'sleep', service: 'none', status: 'cancelled' })).toBe(1);
  });

  it('counts reaper actions from recovery.action events, by their count', async () => {
    const before = (await scrape()).samples;
    const add = (data: object) => t.redis.xadd(client.keys.globalEvents, '*', 'type', 'recovery.action', 'ts', String(Date.now()), 'workerId', 'reaper', 'data', JSON.stringify(data));
    await add({ action: 'retry_step', reason: 'job gone' });
    await add({ action: 'reclaim', count: 3, reason: 'expired permits' });
    const moved = (s: Sample[]) => valueOf(s, 'sq_recovery_actions_total', { action: 'reclaim' }) > valueOf(before, 'sq_recovery_actions_total', { action: 'reclaim' });
    const after = (await scrapeUntil(moved)).samples;
    expect(valueOf(after, 'sq_recovery_actions_total', { action: 'retry_step' }) - valueOf(before, 'sq_recovery_actions_total', { action: 'retry_step' })).toBe(1);
    expect(valueOf(after, 'sq_recovery_actions_total', { action: 'reclaim' }) - valueOf(before, 'sq_recovery_actions_total', { action: 'reclaim' })).toBe(3);
  });

  it.skipIf(!hasPromtool() && !process.env.CI)('passes promtool check metrics without findings on the real output', async () => {
    const { text } = await scrape();
    expect(text).toContain('sq_cost_usd_total{');
    const { status, findings } = promtoolCheck(text);
    expect(findings).toBe('');
    expect(status).toBe(0);
  });
});

describe('sq_stalled_jobs_total', () => {
  it('counts a job whose worker was killed, found stalled by the metrics worker', async () => {
    const env = { SQ_LOCK_DURATION_MS: '1000', SQ_STALLED_INTERVAL_MS: '500' };
    const prefix = uniquePrefix('metrics-stall');
    const victim = await startWorker({ redisUrl: t.url, prefix, concurrency: 1, env });
    const stallClient = await createClient({ redisUrl: t.url, prefix });
    let watcher: WorkerProcess | undefined;
    try {
      const def = parseScenario('name: metrics-stall\nsteps:\n  - id: hang\n    uses: sleep\n    with: { ms: 1500 }\n', known);
      const { runId } = await stallClient.enqueue(def);
      await waitForStatus(stallClient, runId, 'running');
      victim.kill('SIGKILL');
      await victim.exited;
      watcher = await startWorker({ redisUrl: t.url, prefix, concurrency: 1, env, args: ['--metrics-port', '0'] });
      const url = `http://127.0.0.1:${await metricsPort(watcher)}/metrics`;
      const deadline = Date.now() + 15_000;
      let stalled = 0;
      while (stalled === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        stalled = valueOf(parseSamples(await (await fetch(url)).text()), 'sq_stalled_jobs_total', { queue: 'steps' });
      }
      expect(stalled).toBe(1);
      expect((await stallClient.wait(runId)).status).toBe('succeeded');
    } finally {
      await watcher?.stop();
      await stallClient.close();
      await cleanupPrefix(t.url, prefix);
    }
  });
});

async function waitForStatus(c: ScenarioClient, runId: string, status: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await c.status(runId))?.status !== status) {
    if (Date.now() > deadline) throw new Error(`run ${runId} did not reach ${status} within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
