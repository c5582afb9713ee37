/**
 * A tiny local HTTP service for the demo and the tests (no vitest imports, so non-test code
 * can start it too). Routes:
 *
 *   GET  /json                         200 {"ok":true,"items":[1,2,3]}
 *   GET  /text                         200 text/plain "hello"
 *   ANY  /status/<code>                that status, JSON body {"status":code}
 *   ANY  /flaky?key=k&fail=N[&status=S]  first N requests per key → S (default 503), then 200 {"ok":true,"attempt":n}
 *   ANY  /rate-limited?key=k&fail=N&retryAfter=V  first N per key → 429 with `Retry-After: V`, then 200
 *   ANY  /slow?ms=M                    200 {"sleptMs":M} after M ms
 *   ANY  /echo                         200 {method,path,query,headers,body}
 *   anything else                      404 {"error":"not found","path":…}
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface HttpTarget {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every request seen, oldest first. */
  readonly requests: readonly RecordedRequest[];
  /** Requests seen so far for a `?key=` of /flaky or /rate-limited. */
  hits(key: string): number;
  /** Forgets counters and recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

/** Starts the target on 127.0.0.1 with an ephemeral port. */
export async function startHttpTarget(): Promise<HttpTarget> {
  const counters = new Map<string, number>();
  const requests: RecordedRequest[] = [];

  const server = createServer((req, res) => {
    void readRequestBody(req).then((body) => {
      requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, body });
      route(req, res, body, counters);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    hits: (key) => counters.get(key) ?? 0,
    reset() {
      counters.clear();
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Slow routes may hold sockets open; a test teardown must not wait for them.
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function route(req: IncomingMessage, res: ServerResponse, body: string, counters: Map<string, number>): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query = url.searchParams;
  const path = url.pathname;

  if (path === '/json') return sendJson(res, 200, { ok: true, items: [1, 2, 3] });
  if (path === '/text') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('hello');
    return;
  }
  const status = /^\/status\/(\d{3})$/.exec(path);
  if (status) return sendJson(res, Number(status[1]), { status: Number(status[1]) });

  if (path === '/flaky' || path === '/rate-limited') {
    const key = query.get('key') ?? 'default';
    const attempt = (counters.get(key) ?? 0) + 1;
    counters.set(key, attempt);
    const fail = Number(query.get('fail') ?? '1');
    if (attempt <= fail) {
      if (path === '/rate-limited') {
        return sendJson(res, 429, { error: 'rate limited', attempt }, { 'retry-after': query.get('retryAfter') ?? '1' });
      }
      return sendJson(res, Number(query.get('status') ?? '503'), { error: 'flaky', attempt });
    }
    return sendJson(res, 200, { ok: true, attempt });
  }

  if (path === '/slow') {
    const ms = Number(query.get('ms') ?? '1000');
    const timer = setTimeout(() => sendJson(res, 200, { sleptMs: ms }), ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }

  if (path === '/echo') {
    const isJson = (req.headers['content-type'] ?? '').includes('json');
    let parsed: unknown = body;
    if (isJson && body) {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = body;
      }
    }
    return sendJson(res, 200, {
      method: req.method,
      path,
      query: Object.fromEntries(query),
      headers: req.headers,
      body: parsed,
    });
  }

  sendJson(res, 404, { error: 'not found', path });
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

function readRequestBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
