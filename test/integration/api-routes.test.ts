import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';
import { startApi, type ApiProcess } from '../support/api.ts';
import { startWorker, stopAllWorkers } from '../support/workers.ts';
import { hasPromtool, promtoolCheck } from '../support/prometheus.ts';

const t = useTestRedis('api-routes', { scope: 'file' });
const TOKEN = `sq-token-${randomBytes(16).toString('hex')}`;
const HANDLERS = 'test/fixtures/metrics/handlers.ts';

let api: ApiProcess;
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(api.url + path, { method, headers: body === undefined ? { authorization: headers.authorization } : headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

/** Reads a run's SSE stream to its `end` event (the server closes it when the run is over). */
async function readSse(path: string, extra: Record<string, string> = {}): Promise<SseMessage[]> {
  const res = await fetch(api.url + path, { headers: { authorization: headers.authorization, ...extra } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const messages: SseMessage[] = [];
  for (const block of (await res.text()).split('\n\n')) {
    const msg: SseMessage = { data: '' };
    for (const line of block.split('\n')) {
      const [field, ...rest] = line.split(': ');
      if (field === 'id') msg.id = rest.join(': ');
      else if (field === 'event') msg.event = rest.join(': ');
      else if (field === 'data') msg.data = rest.join(': ');
    }
    if (msg.data) messages.push(msg);
  }
  return messages;
}

const retrying = {
  name: 'api-retrying',
  defaults: { retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 50, jitter: 'none' } } },
  steps: [
    { id: 'bill', uses: 'spend', service: 'openai', with: { usd: 0.25, input: 10, output: 5, failTimes: 1, sleepMs: 300 } },
    { id: 'check', uses: 'fault', needs: ['bill'], with: { kind: 'assertion' } },
    { id: 'after', uses: 'noop', needs: ['check'] },
  ],
};

beforeAll(async () => {
  await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 4, handlers: HANDLERS });
  api = await startApi({ redisUrl: t.url, prefix: t.prefix, token: TOKEN, args: ['--handlers', HANDLERS, '--scenarios', 'test/fixtures/api/scenarios'] });
});

afterAll(async () => {
  await api?.stop();
  await stopAllWorkers();
});

describe('POST /runs, GET /runs/:id', () => {
  it('enqueues a scenario object and reports its summary', async () => {
    const created = await call<{ runId: string }>('POST', '/runs', { scenario: retrying, suite: 'ci-42' });
    expect(created.status).toBe(201);
    const { runId } = created.body;
    expect(created.headers.get('location')).toBe(`/runs/${runId}`);
    await readSse(`/runs/${runId}/events`);
    const run = await call<{ status: string; suite: string; budget: unknown; steps: { id: string; status: string; attempts: number; errors: { kind: string }[] }[] }>('GET', `/runs/${runId}`);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ runId, scenario: 'api-retrying', status: 'failed', suite: 'ci-42', budget: null });
    expect(run.body.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([['bill', 'succeeded', 2], ['check', 'failed', 1], ['after', 'skipped', 0]]);
    expect(run.body.steps[0].errors[0].kind).toBe('server_error');
  });

  it('enqueues a registered scenario by name with input', async () => {
    expect((await call('GET', '/scenarios')).body).toEqual({ scenarios: ['api-hello'] });
    const created = await call<{ runId: string }>('POST', '/runs', { scenario: 'api-hello', input: { who: 'api' } });
    expect(created.status).toBe(201);
    await readSse(`/runs/${created.body.runId}/events`);
    expect((await call('GET', `/runs/${created.body.runId}`)).body).toMatchObject({ scenario: 'api-hello', status: 'succeeded' });
  });

  it('answers 404 for an unknown run and 400 for a malformed id', async () => {
    expect((await call('GET', '/runs/no-such-run')).status).toBe(404);
    expect((await call('GET', '/runs/no-such-run/bundle')).status).toBe(404);
    expect((await call('GET', '/runs/no-such-run/events')).status).toBe(404);
    expect((await call('POST', '/runs/no-such-run/cancel', {})).status).toBe(404);
    expect((await call('GET', '/runs/bad:id')).status).toBe(400);
    const unknown = await call('GET', '/nowhere');
    expect(unknown).toMatchObject({ status: 404, body: { error: 'not found', path: '/nowhere' } });
  });
});

describe('GET /runs', () => {
  it('lists newest first with status and scenario filters and a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { body } = await call<{ runId: string }>('POST', '/runs', { scenario: 'api-hello', input: { who: `n${i}` } });
      ids.push(body.runId);
      await readSse(`/runs/${body.runId}/events`);
    }
    const page1 = await call<{ runs: { runId: string; status: string; durationMs: number; cost: unknown }[]; next?: number }>('GET', '/runs?scenario=api-hello&status=succeeded&limit=2');
    expect(page1.body.runs.map((r) => r.runId)).toEqual([ids[2], ids[1]]);
    expect(page1.body.runs[0]).toMatchObject({ status: 'succeeded', cost: { usd: 0, calls: 0 } });
    expect(page1.body.runs[0].durationMs).toBeGreaterThanOrEqual(0);
    const page2 = await call<{ runs: { runId: string }[] }>('GET', `/runs?scenario=api-hello&status=succeeded&limit=2&before=${page1.body.next}`);
    expect(page2.body.runs[0].runId).toBe(ids[0]);
    const failed = await call<{ runs: { scenario: string; status: string }[] }>('GET', '/runs?status=failed,timed_out');
    expect(failed.body.runs.length).toBeGreaterThan(0);
    for (const r of failed.body.runs) expect(r.status).toBe('failed');
  });
});

describe('GET /runs/:id/events', () => {
  it('streams live, ends with the run, and resumes after Last-Event-ID', async () => {
    const { body } = await call<{ runId: string }>('POST', '/runs', { scenario: retrying });
    const live = await readSse(`/runs/${body.runId}/events`);
    expect(live.at(-1)).toEqual({ event: 'end', data: '{}' });
    const events = live.filter((m) => m.id).map((m) => ({ sseId: m.id as string, ...(JSON.parse(m.data) as { id: string; type: string }) }));
    expect(events[0].type).toBe('run.queued');
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['step.started', 'step.retrying', 'step.succeeded', 'step.failed', 'step.skipped']));
    expect(events.at(-1)?.type).toBe('run.failed');
    // The SSE id is the event's stream entry id: what Last-Event-ID resumes from.
    for (const e of events) expect(e.sseId).toBe(e.id);
    const cut = 3;
    const resumed = await readSse(`/runs/${body.runId}/events`, { 'last-event-id': events[cut - 1].id });
    expect(resumed.filter((m) => m.id).map((m) => m.id)).toEqual(events.slice(cut).map((e) => e.id));
    const byQuery = await readSse(`/runs/${body.runId}/events?lastEventId=${events.at(-1)?.id}`);
    expect(byQuery).toEqual([{ event: 'end', data: '{}' }]);
  });
});

describe('POST /runs/:id/cancel and GET /runs/:id/bundle', () => {
  it('cancels a running run once, and bundles what it left', async () => {
    const slow = { name: 'api-slow', steps: [{ id: 'wait', uses: 'sleep', with: { ms: 30_000 } }] };
    const { body } = await call<{ runId: string }>('POST', '/runs', { scenario: slow });
    const deadline = Date.now() + 10_000;
    while ((await call<{ status: string }>('GET', `/runs/${body.runId}`)).body.status !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const cancelled = await call('POST', `/runs/${body.runId}/cancel`, { reason: 'test says stop' });
    expect(cancelled).toMatchObject({ status: 200, body: { runId: body.runId, cancelled: true, status: 'cancelled' } });
    expect((await call('POST', `/runs/${body.runId}/cancel`)).body).toMatchObject({ cancelled: false, status: 'cancelled' });
    const bundle = await call<{ bundleVersion: number; summary: { status: string; reason: string }; timeline: { type: string }[]; attempts: Record<string, unknown[]> }>('GET', `/runs/${body.runId}/bundle`);
    expect(bundle.status).toBe(200);
    expect(bundle.body).toMatchObject({ bundleVersion: 1, summary: { status: 'cancelled', reason: 'test says stop' } });
    expect(bundle.body.timeline.at(-1)?.type).toBe('run.cancelled');
    expect(bundle.body.attempts.wait).toHaveLength(1);
  });
});

describe('POST|DELETE /halt', () => {
  it('halts one scenario: new runs of it are refused with the reason until unhalted', async () => {
    const on = await call('POST', '/halt', { scenario: 'api-hello', reason: 'payments sandbox is down' });
    expect(on).toMatchObject({ status: 200, body: { halted: true, scenario: 'api-hello' } });
    const services = await call<{ halts: Record<string, { reason: string }> }>('GET', '/services');
    expect(services.body.halts['api-hello'].reason).toBe('payments sandbox is down');
    const refused = await call('POST', '/runs', { scenario: 'api-hello' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ kind: 'halted', error: expect.stringContaining('payments sandbox is down') });
    const off = await call('DELETE', '/halt?scenario=api-hello');
    expect(off).toMatchObject({ status: 200, body: { halted: false, scenario: 'api-hello', result: { lifted: true } } });
    expect((await call('POST', '/runs', { scenario: 'api-hello' })).status).toBe(201);
  });
});

describe('operations routes', () => {
  it('serves services, recovery status and health', async () => {
    expect((await call('GET', '/services')).body).toMatchObject({ services: [], halts: {} });
    // The reaper runs when a worker starts and keeps its report.
    const recovery = await call<{ report: { scanned: number; errors: unknown[] } | null }>('GET', '/recovery/status');
    expect(recovery.body.report).toMatchObject({ scanned: expect.any(Number), errors: [] });
    expect((await call('GET', '/readyz')).body).toEqual({ ok: true, redis: 'ok' });
  });

  it('serves Bull Board at /queues, read-only, with the step and deadline queues', async () => {
    const page = await fetch(`${api.url}/queues`, { headers: { authorization: headers.authorization } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const queues = await call<{ queues: { name: string; readOnlyMode: boolean }[] }>('GET', '/queues/api/queues');
    expect(queues.body.queues.map((q) => [q.name, q.readOnlyMode])).toEqual([
      ['steps', true],
      ['deadlines', true],
    ]);
  });

  it.skipIf(!hasPromtool() && !process.env.CI)('serves /metrics that promtool accepts', async () => {
    const res = await fetch(`${api.url}/metrics`, { headers: { authorization: headers.authorization } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('sq_queue_jobs{queue="steps",state="wait"}');
    expect(text).toContain('sq_queue_jobs{queue="deadlines",state="delayed"}');
    expect(promtoolCheck(text)).toEqual({ status: 0, findings: '' });
  });
});
