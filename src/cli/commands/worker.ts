import type { Command } from 'commander';
import { createWorker, newWorkerId } from '../../worker/worker.ts';
import { startWorkerMetrics } from '../../observability/worker-metrics.ts';
import { createLogger } from '../../observability/logger.ts';
import { connectRedis } from '../../redis/connection.ts';
import { cliEnv, customHandlers } from '../context.ts';
import { intFlag } from '../input.ts';
import { settlesWithin } from '../../worker/shutdown.ts';

/** `worker`: executes steps until SIGTERM/SIGINT (drain), a second signal forces exit. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker process that executes scenario steps')
    .option('--concurrency <n>', 'step attempts in flight at once (default SQ_CONCURRENCY or 8)')
    .option('--handlers <module>', 'module with custom handlers (default SQ_HANDLERS)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on GET /metrics at this port (default SQ_METRICS_PORT; 0 = any free port)')
    .action(async (opts: { concurrency?: string; handlers?: string; metricsPort?: string }) => {
      const env = cliEnv();
      const concurrency = opts.concurrency ? intFlag('--concurrency', opts.concurrency) : env.SQ_CONCURRENCY;
      const handlersModule = opts.handlers ?? env.SQ_HANDLERS;
      const handlers = await customHandlers(opts.handlers);
      const logger = createLogger({ level: env.SQ_LOG_LEVEL });
      const connection = await connectRedis(env.REDIS_URL, { connectionName: 'sq-worker' });
      const workerId = newWorkerId();
      const metricsPort = opts.metricsPort !== undefined ? intFlag('--metrics-port', opts.metricsPort, 0) : env.SQ_METRICS_PORT;
      const metrics = metricsPort === undefined ? undefined : await startWorkerMetrics({ redis: connection, prefix: env.SQ_PREFIX, port: metricsPort, workerId, log: logger });
      const worker = await createWorker({
        connection,
        workerId,
        observer: metrics?.observer,
        prefix: env.SQ_PREFIX,
        concurrency,
        handlers,
        handlersModule,
        logger,
        lockDurationMs: env.SQ_LOCK_DURATION_MS,
        stalledIntervalMs: env.SQ_STALLED_INTERVAL_MS,
        shutdownGraceMs: env.SQ_SHUTDOWN_GRACE_MS,
        recoveryIntervalMs: env.SQ_RECOVERY_INTERVAL_MS,
        recoveryMaxAgeMs: env.SQ_RECOVERY_MAX_AGE_MS,
        artifactDir: env.SQ_ARTIFACT_DIR,
      });
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals++;
          if (signals > 1) {
            logger.warn({ signal }, 'second signal: exiting now');
            process.exit(1);
          }
          logger.info({ signal, inflight: worker.inflight }, 'draining');
          // Readiness drops at once, so Kubernetes sees the drain while in-flight attempts finish.
          metrics?.draining();
          worker
            .close()
            .then(() => settlesWithin(Promise.all([metrics?.stop(), connection.quit()]), 500))
            .catch((err: unknown) => logger.error({ err }, 'close failed'))
            .finally(() => {
              connection.disconnect();
              resolve();
            });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      logger.flush();
      process.exitCode = 0;
      // Drained and closed: nothing left to wait for, even if a library left a handle open.
      setTimeout(() => process.exit(0), 1_000).unref();
    });
}
