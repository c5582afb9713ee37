import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';
import { startApi, type ApiProcess } from '../support/api.ts';
import { startWorker, stopAllWorkers } from '../support/workers.ts';

const t = useTestRedis('api-secrets', { scope: 'file' });
const TOKEN = `sq-token-${randomBytes(16).toString('hex')}`;
const CANARY = `canary-${randomBytes(16).toString('hex')}`;
const HANDLERS = 'test/fixtures/metrics/handlers.ts';

let api: ApiProcess;
const auth = { authorization: `Bearer ${TOKEN}` };
const json = { 'content-type': 'application/json' };

beforeAll(async () => {
  // The worker holds the secret; the guardrails redact it wherever it would be stored.
  await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 2, handlers: HANDLERS, env: { CANARY_SECRET: CANARY } });
  api = await startApi({ redisUrl: t.url, prefix: t.prefix, token: TOKEN, args: ['--handlers', HANDLERS] });
});

afterAll(async () => {
  await api?.stop();
  await stopAllWorkers();
});

describe('api secrets', () => {
  it('never shows the canary secret or the API token in any response, SSE event or page', async () => {
    const scenario = {
      name: 'api-canary',
      steps: [
        { id: 'use', uses: 'echo', credentials: ['CANARY_SECRET'], with: { header: 'Bearer {{ secrets.CANARY_SECRET }}' } },
        { id: 'leak', uses: 'fault', needs: ['use'], credentials: ['CANARY_SECRET'], with: { kind: 'assertion', message: 'token was {{ secrets.CANARY_SECRET }}' } },
      ],
    };
    const created = await fetch(`${api.url}/runs`, { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify({ scenario }) });
    expect(created.status).toBe(201);
    const { runId } = (await created.json()) as { runId: string };
    const bodies: string[] = [];
    const get = async (path: string, headers: Record<string, string> = auth) => {
      const res = await fetch(api.url + path, { headers });
      const text = await res.text();
      bodies.push(`${path} ${res.status} ${JSON.stringify([...res.headers])} ${text}`);
      return text;
    };
    // The SSE stream ends with the run, so reading it whole waits for the verdict.
    const sse = await get(`/runs/${runId}/events`);
    expect(sse).toContain('"type":"run.failed"');
    expect(sse).toContain('[redacted:CANARY_SECRET]');
    const summary = JSON.parse(await get(`/runs/${runId}`)) as { status: string };
    expect(summary.status).toBe('failed');
    for (const path of ['/runs', `/runs/${runId}/bundle`, '/metrics', '/services', '/recovery/status', '/scenarios', '/', '/login', '/assets/app.js', '/queues', '/queues/api/queues', '/no-such-route']) {
      await get(path);
    }
    await get('/runs', { authorization: `Bearer ${CANARY}` });
    await get(`/runs/${runId}`, { authorization: `Bearer ${TOKEN.slice(0, -1)}` });
    for (const body of bodies) {
      expect(body).not.toContain(CANARY);
      expect(body).not.toContain(TOKEN);
    }
    expect(api.lines().join('\n')).not.toContain(TOKEN);
  });
});
