import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpStatusError, isScenarioError, toFailure } from '../../src/errors.ts';
import { http } from '../../src/handlers/builtin/http.ts';
import { parseRetryAfter } from '../../src/handlers/http-response.ts';
import type { HandlerContext } from '../../src/handlers/types.ts';
import { startHttpTarget, type HttpTarget } from '../support/http-target.ts';
import { testContext as baseContext } from '../support/handler-context.ts';

const testContext = (over: Partial<HandlerContext> = {}) => baseContext({ stepId: 'call', ...over });

/** Runs the handler the way the engine does: parse `with`, then run. */
async function runHttp(raw: unknown, ctx = testContext()) {
  return http.run(http.input.parse(raw), ctx);
}

/** A port nothing listens on: bind an ephemeral one, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('http handler', () => {
  let target: HttpTarget;
  beforeAll(async () => {
    target = await startHttpTarget();
  });
  afterAll(async () => {
    await target.close();
  });
  beforeEach(() => target.reset());

  it('returns status, headers and parsed JSON body, and counts one call', async () => {
    const ctx = testContext();
    const out = await runHttp({ url: `${target.url}/json` }, ctx);
    expect(out.status).toBe(200);
    expect(out.headers['content-type']).toBe('application/json');
    expect(out.body).toEqual({ ok: true, items: [1, 2, 3] });
    expect(ctx.usage).toEqual([{ calls: 1 }]);
  });

  it('returns text bodies as strings', async () => {
    expect((await runHttp({ url: `${target.url}/text` })).body).toBe('hello');
  });

  it('sends json with a JSON content type, plus method and headers', async () => {
    const out = await runHttp({ method: 'post', url: `${target.url}/echo?x=1`, headers: { 'x-test': 'yes' }, json: { a: 1 } });
    expect(out.body).toMatchObject({
      method: 'POST',
      query: { x: '1' },
      headers: { 'x-test': 'yes', 'content-type': 'application/json' },
      body: { a: 1 },
    });
  });

  it('sends a raw body as given', async () => {
    const out = await runHttp({ method: 'PUT', url: `${target.url}/echo`, headers: { 'content-type': 'text/plain' }, body: 'raw' });
    expect(out.body).toMatchObject({ method: 'PUT', body: 'raw' });
  });

  it('rejects json and body together at input validation', () => {
    expect(() => http.input.parse({ url: `${target.url}/echo`, json: {}, body: 'x' })).toThrow('give either json or body, not both');
  });

  it('accepts a status listed in expectStatus', async () => {
    expect((await runHttp({ url: `${target.url}/status/404`, expectStatus: [200, 404] })).status).toBe(404);
    expect((await runHttp({ url: `${target.url}/status/201`, expectStatus: 201 })).body).toEqual({ status: 201 });
  });

  it('fails with a deterministic error when a 2xx is not the expected status', async () => {
    const err = await runHttp({ url: `${target.url}/json`, expectStatus: 201 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect(toFailure(err)).toMatchObject({ kind: 'error', retryable: false, message: `HTTP 200 OK from GET ${target.url}/json` });
  });

  it('classifies 503 as a retryable server_error naming status, method and URL', async () => {
    const err = await runHttp({ url: `${target.url}/flaky?key=a&fail=1` }).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({
      kind: 'server_error',
      retryable: true,
      message: `HTTP 503 Service Unavailable from GET ${target.url}/flaky?key=a&fail=1`,
      details: { status: 503 },
    });
    expect((await runHttp({ url: `${target.url}/flaky?key=a&fail=1` })).body).toEqual({ ok: true, attempt: 2 });
  });

  it('classifies other 4xx as a non-retryable client_error', async () => {
    const err = await runHttp({ url: `${target.url}/nowhere` }).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({ kind: 'client_error', retryable: false, message: `HTTP 404 Not Found from GET ${target.url}/nowhere` });
  });

  it('classifies 429 as rate_limited and carries Retry-After seconds as retryAfterMs', async () => {
    const err = await runHttp({ url: `${target.url}/rate-limited?key=r&fail=1&retryAfter=7` }).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({ kind: 'rate_limited', retryable: true, retryAfterMs: 7000 });
  });

  it('parses Retry-After given as an HTTP-date', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    const err = await runHttp({ url: `${target.url}/rate-limited?key=d&fail=1&retryAfter=${encodeURIComponent(at)}` }).catch((e: unknown) => e);
    const { retryAfterMs } = toFailure(err);
    expect(retryAfterMs).toBeGreaterThan(25_000);
    expect(retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('leaves network errors to toFailure, which classifies them as network', async () => {
    const port = await closedPort();
    const err = await runHttp({ url: `http://127.0.0.1:${port}/x` }).catch((e: unknown) => e);
    expect(isScenarioError(err)).toBe(false);
    expect(toFailure(err)).toMatchObject({ kind: 'network', retryable: true });
    expect(toFailure(err).message).toContain('ECONNREFUSED');
  });

  it('aborts the request with the signal and propagates the abort reason', async () => {
    const controller = new AbortController();
    const reason = new Error('attempt timed out (test)');
    const pending = runHttp({ url: `${target.url}/slow?ms=5000` }, testContext({ signal: controller.signal }));
    setTimeout(() => controller.abort(reason), 50);
    const started = Date.now();
    await expect(pending).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('returns the mock output without calling out when the step runs mocked', async () => {
    const ctx = testContext({ mock: true, mockOutput: { output: { status: 200, headers: {}, body: 'mocked' } } });
    expect(await runHttp({ url: `${target.url}/json` }, ctx)).toEqual({ status: 200, headers: {}, body: 'mocked' });
    expect(target.requests).toHaveLength(0);
    expect(ctx.usage).toEqual([]);
  });

  it('refuses a live call when mocked without a mock output', async () => {
    const err = await runHttp({ url: `${target.url}/json` }, testContext({ mock: true })).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({ kind: 'invalid_input', message: 'step "call" runs mocked but has no mock.output or recording for handler "http"' });
    expect(target.requests).toHaveLength(0);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads delta-seconds', () => expect(parseRetryAfter('120', now)).toBe(120_000));
  it('reads an HTTP-date relative to now', () => expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000));
  it('clamps past dates to 0', () => expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0));
  it('ignores garbage and absence', () => {
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
