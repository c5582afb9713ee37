import { Queue } from 'bullmq';
import type { RedisConnection } from '../redis/connection.ts';
import type { Logger } from 'pino';
import { STEP_QUEUE, type Keys } from '../redis/keys.ts';
import { closeDeadlineQueue, deadlineQueueOf } from '../engine/jobs.ts';
import type { WorkerObserver } from '../worker/observer.ts';
import { breakerStates } from './breaker-source.ts';
import { startEventMetrics } from './event-metrics.ts';
import { metricsObserver } from './metrics-observer.ts';
import type { Metrics } from './metrics.ts';

export interface MetricsFeedOptions {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly metrics: Metrics;
  /** Name of this process in the metrics consumer group (a worker id). */
  readonly consumer: string;
  readonly log: Logger;
}

export interface MetricsFeed {
  /** Pass to `createWorker({ observer })` in worker processes. */
  readonly observer: WorkerObserver;
  stop(): Promise<void>;
}

/** Wires a process's metrics to the cluster: event stream share; queue depth and breaker states at scrape time. */
export async function startMetricsFeed(options: MetricsFeedOptions): Promise<MetricsFeed> {
  const { redis, keys, metrics } = options;
  const queue = new Queue(STEP_QUEUE, { connection: redis, prefix: keys.prefix });
  // Step jobs, and the run and group deadline jobs waiting in their own queue.
  const deadlines = deadlineQueueOf(queue);
  const unwatch = metrics.watchQueue(queue);
  const unwatchDeadlines = metrics.watchQueue(deadlines);
  const unsource = metrics.addCircuitSource(breakerStates(redis, keys));
  const events = await startEventMetrics(options);
  return {
    observer: metricsObserver(metrics),
    async stop() {
      unwatch();
      unwatchDeadlines();
      unsource();
      await events.stop();
      await closeDeadlineQueue(queue).catch(() => {});
      await queue.close().catch(() => {});
    },
  };
}
