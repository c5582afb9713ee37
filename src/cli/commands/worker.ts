import type { Command } from 'commander';
import { createWorker } from '../../worker/worker.ts';
import { createLogger } from '../../observability/logger.ts';
import { connectRedis } from '../../redis/connection.ts';
import { cliEnv, customHandlers } from '../context.ts';
import { intFlag } from '../input.ts';

/** `worker`: executes steps until SIGTERM/SIGINT (drain), a second signal forces exit. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker process that executes scenario steps')
    .option('--concurrency <n>', 'step attempts in flight at once (default SQ_CONCURRENCY or 8)')
    .option('--handlers <module>', 'module with custom handlers (default SQ_HANDLERS)')
    .action(async (opts: { concurrency?: string; handlers?: string }) => {
      const env = cliEnv();
      const concurrency = opts.concurrency ? intFlag('--concurrency', opts.concurrency) : env.SQ_CONCURRENCY;
      const handlers = await customHandlers(opts.handlers);
      const logger = createLogger({ level: env.SQ_LOG_LEVEL });
      const connection = await connectRedis(env.REDIS_URL, { connectionName: 'sq-worker' });
      const worker = await createWorker({
        connection,
        prefix: env.SQ_PREFIX,
        concurrency,
        handlers,
        logger,
        lockDurationMs: env.SQ_LOCK_DURATION_MS,
        stalledIntervalMs: env.SQ_STALLED_INTERVAL_MS,
        shutdownGraceMs: env.SQ_SHUTDOWN_GRACE_MS,
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
          worker
            .close()
            .then(() => connection.quit())
            .catch((err: unknown) => logger.error({ err }, 'close failed'))
            .finally(resolve);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      logger.flush();
      process.exitCode = 0;
    });
}
