import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';

export interface MetricsServerOptions {
  readonly port: number;
  /** @default '0.0.0.0' (Prometheus scrapes workers over the network) */
  readonly host?: string;
  readonly log: Logger;
  /** Answers `GET /readyz`: 200 when it resolves true, 503 otherwise. @default always ready */
  readonly ready?: () => Promise<boolean>;
}

const JSON_TYPE = { 'content-type': 'application/json' };

/**
 * Serves a worker's `GET /metrics` (SQ_METRICS_PORT; port 0 picks a free port), plus
 * `GET /healthz` (the process answers) and `GET /readyz` for Kubernetes probes.
 */
export async function serveMetrics(metrics: Metrics, options: MetricsServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, JSON_TYPE).end(JSON.stringify({ ok: true }));
      return;
    }
    if (req.method === 'GET' && path === '/readyz') {
      (options.ready ?? (async () => true))().then(
        (ok) => res.writeHead(ok ? 200 : 503, JSON_TYPE).end(JSON.stringify({ ok })),
        () => res.writeHead(503, JSON_TYPE).end(JSON.stringify({ ok: false })),
      );
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: unknown) => {
        options.log.warn({ err }, 'metrics render failed');
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'metrics unavailable' }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  options.log.info({ port }, 'metrics server listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
