import type { RedisConnection } from '../redis/connection.ts';
import type { Logger } from 'pino';
import { createKeys } from '../redis/keys.ts';
import type { WorkerObserver } from '../worker/observer.ts';
import { startMetricsFeed } from './metrics-feed.ts';
import { serveMetrics } from './metrics-server.ts';
import { processMetrics } from './metrics.ts';

export interface WorkerMetricsOptions {
  readonly redis: RedisConnection;
  readonly prefix: string;
  /** SQ_METRICS_PORT / `--metrics-port`; 0 picks a free port (logged). */
  readonly port: number;
  /** The worker id the worker will run under (its consumer name in the metrics group). */
  readonly workerId: string;
  readonly log: Logger;
}

/** Everything `worker --metrics-port` adds: the observer for createWorker, the feed and GET /metrics. */
export async function startWorkerMetrics(options: WorkerMetricsOptions): Promise<{ observer: WorkerObserver; port: number; stop(): Promise<void> }> {
  const metrics = processMetrics();
  const log = options.log;
  const feed = await startMetricsFeed({ redis: options.redis, keys: createKeys(options.prefix), metrics, consumer: options.workerId, log });
  const server = await serveMetrics(metrics, { port: options.port, log }).catch(async (e: unknown) => {
    await feed.stop();
    throw e;
  });
  return {
    observer: feed.observer,
    port: server.port,
    async stop() {
      await server.close();
      await feed.stop();
    },
  };
}
