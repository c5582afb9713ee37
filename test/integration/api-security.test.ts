import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';
import { startApi, type ApiProcess } from '../support/api.ts';
import { startWorker, stopAllWorkers } from '../support/workers.ts';

const t = useTestRedis('api-security', { scope: 'file' });
const TOKEN = `sq-token-${randomBytes(16).toString('hex')}`;
const HANDLERS = 'test/fixtures/metrics/handlers.ts';

/** Every protected route of SPEC §16 (ids need not exist: auth comes first). */
const PROTECTED: [method: string, path: string][] = [
  ['GET', '/'],
  ['GET', '/runs'],
  ['POST', '/runs'],
  ['GET', '/runs/some-run'],
  ['GET', '/runs/some-run/events'],
  ['POST', '/runs/some-run/cancel'],
  ['GET', '/runs/some-run/bundle'],
  ['POST', '/halt'],
  ['DELETE', '/halt'],
  ['GET', '/services'],
  ['GET', '/recovery/status'],
  ['GET', '/scenarios'],
  ['GET', '/metrics'],
  ['GET', '/queues'],
  ['GET', '/queues/api/queues'],
  ['GET', '/no-such-route'],
];

let api: ApiProcess;
const auth = { authorization: `Bearer ${TOKEN}` };
const json = { 'content-type': 'application/json' };

beforeAll(async () => {
  await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 2, handlers: HANDLERS });
  api = await startApi({ redisUrl: t.url, prefix: t.prefix, token: TOKEN, args: ['--handlers', HANDLERS] });
});

afterAll(async () => {
  await api?.stop();
  await stopAllWorkers();
});

describe('api authentication', () => {
  it('refuses to start without SQ_API_TOKEN, and serves without auth only with --insecure on loopback', async () => {
    await expect(startApi({ redisUrl: t.url, prefix: t.prefix })).rejects.toThrow(/exited \(code 2\)[\s\S]*SQ_API_TOKEN is not set/);
    const open = await startApi({ redisUrl: t.url, prefix: t.prefix, args: ['--insecure'] });
    try {
      expect((await fetch(`${open.url}/runs`)).status).toBe(200);
      expect(open.lines().join('\n')).toContain('"host":"127.0.0.1"');
    } finally {
      await open.stop();
    }
  });

  it('answers 401 on every protected route without a token, with a wrong one and with a forged session', async () => {
    const forged = `${Date.now() + 3_600_000}.${Buffer.from('forged').toString('base64url')}`;
    const variants: Record<string, string>[] = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: 'Bearer ' }, { authorization: `Basic ${TOKEN}` }, { cookie: `sq_session=${forged}` }];
    for (const [method, path] of PROTECTED) {
      for (const headers of variants) {
        const res = await fetch(api.url + path, { method, headers: { ...headers, ...(method === 'GET' || method === 'DELETE' ? {} : json) }, body: method === 'POST' ? '{}' : undefined });
        expect(res.status, `${method} ${path} with ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
        expect(await res.json()).toEqual({ error: 'missing or wrong bearer token' });
      }
    }
  });

  it('serves health without a token', async () => {
    expect(await (await fetch(`${api.url}/healthz`)).json()).toEqual({ ok: true });
    const ready = await fetch(`${api.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true, redis: 'ok' });
  });

  it('trades the token for an HttpOnly SameSite=Strict session cookie that refuses cross-origin writes', async () => {
    const wrong = await fetch(`${api.url}/login`, { method: 'POST', headers: json, body: JSON.stringify({ token: 'nope' }) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const login = await fetch(`${api.url}/login`, { method: 'POST', headers: json, body: JSON.stringify({ token: TOKEN }) });
    expect(login.status).toBe(204);
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^sq_session=\d+\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';')[0];
    expect((await fetch(`${api.url}/runs`, { headers: { cookie } })).status).toBe(200);
    const crossSite = await fetch(`${api.url}/runs/some-run/cancel`, { method: 'POST', headers: { cookie, origin: 'https://evil.example', ...json }, body: '{}' });
    expect(crossSite.status).toBe(403);
    const tampered = cookie.replace(/=(\d+)\./, (_, exp: string) => `=${Number(exp) + 1}.`);
    expect((await fetch(`${api.url}/runs`, { headers: { cookie: tampered } })).status).toBe(401);
  });
});

describe('api request validation', () => {
  it('answers 413 for a body over the cap, before reading it', async () => {
    // Only the headers are sent: the answer must come from the declared length alone. (Sending
    // the whole body raced the server closing the socket on it: EPIPE instead of an answer.)
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${api.url}/runs`, { method: 'POST', headers: { ...auth, ...json, 'content-length': String(3 * 1024 * 1024) } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ error: 'request body too large', limitBytes: 2 * 1024 * 1024 });
  });

  it('answers 400 naming each invalid field', async () => {
    const post = async (body: unknown) => {
      const res = await fetch(`${api.url}/runs`, { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      return (await res.json()) as { error: string; issues: { path: string; message: string }[] };
    };
    const scenario = { name: 'api-bad', steps: [{ id: 'a', uses: 'no-such-handler' }, { id: 'b', uses: 'noop', needs: ['lgoin'] }] };
    const bad = await post({ scenario });
    expect(bad.error).toBe('invalid scenario');
    expect(bad.issues.map((i) => i.path)).toEqual(['scenario.steps[0].uses', 'scenario.steps[1].needs[0]']);
    expect((await post({ scenario: 'api-bad', input: 5 })).issues).toEqual([{ path: 'input', message: expect.stringContaining('expected record') }]);
    expect((await post({ scenario: 'api-bad', bogus: true })).issues).toEqual([{ path: 'bogus', message: 'unknown field' }]);
    expect((await post({ scenario: 'not-registered' })).issues).toEqual([{ path: 'scenario', message: 'no registered scenario "not-registered" (registered: none)' }]);
    const notJson = await fetch(`${api.url}/runs`, { method: 'POST', headers: { ...auth, ...json }, body: '{"scenario":' });
    expect(notJson.status).toBe(400);
    const list = await fetch(`${api.url}/runs?limit=0&status=exploded`, { headers: auth });
    expect(list.status).toBe(400);
    expect(((await list.json()) as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual(['limit', 'status[0]']);
    const resume = await fetch(`${api.url}/runs/some-run/events`, { headers: { ...auth, 'last-event-id': 'not-an-id' } });
    expect(resume.status).toBe(400);
    expect(((await resume.json()) as { issues: { path: string }[] }).issues[0].path).toBe('Last-Event-ID');
    const halt = await fetch(`${api.url}/halt`, { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify({ reason: '' }) });
    expect(halt.status).toBe(400);
    expect(((await halt.json()) as { issues: { path: string }[] }).issues[0].path).toBe('reason');
  });
});
