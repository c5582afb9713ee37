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

/** A worker stops being ready when it drains or when Redis does not answer PING within this. */
const READY_PING_TIMEOUT_MS = 1_000;

async function answersPing(redis: RedisConnection): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_PING_TIMEOUT_MS);
  });
  try {
    return await Promise.race([redis.ping().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Everything `worker --metrics-port` adds: the observer for createWorker, the feed, GET /metrics
 * and the probes GET /healthz and GET /readyz (not ready once `draining()` was called).
 */
export async function startWorkerMetrics(
  options: WorkerMetricsOptions,
): Promise<{ observer: WorkerObserver; port: number; draining(): void; stop(): Promise<void> }> {
  const metrics = processMetrics();
  const log = options.log;
  let draining = false;
  const ready = async () => !draining && (await answersPing(options.redis));
  const feed = await startMetricsFeed({ redis: options.redis, keys: createKeys(options.prefix), metrics, consumer: options.workerId, log });
  const server = await serveMetrics(metrics, { port: options.port, log, ready }).catch(async (e: unknown) => {
    await feed.stop();
    throw e;
  });
  return {
    observer: feed.observer,
    port: server.port,
    draining() {
      draining = true;
    },
    async stop() {
      await server.close();
      await feed.stop();
    },
  };
}
