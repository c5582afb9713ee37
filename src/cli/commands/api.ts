import { hostname } from 'node:os';
import type { Command } from 'commander';
import { createApiServer } from '../../api/server.ts';
import { loadScenarioDir, scenarioRegistry } from '../../api/scenarios.ts';
import { apiProviders } from '../../api/wiring.ts';
import { createLogger } from '../../observability/logger.ts';
import { startMetricsFeed } from '../../observability/metrics-feed.ts';
import { processMetrics } from '../../observability/metrics.ts';
import { cliEnv, customHandlers, knownHandlerNames, openClient } from '../context.ts';
import { UsageError } from '../errors.ts';
import { intFlag } from '../input.ts';

interface ApiFlags {
  port?: string;
  host?: string;
  insecure?: boolean;
  scenarios?: string;
  handlers?: string;
}

/** `api`: the HTTP API, dashboard and Bull Board (SPEC §16) until SIGTERM/SIGINT. */
export function registerApi(program: Command): void {
  program
    .command('api')
    .description('serve the HTTP API, the dashboard at / and Bull Board at /queues')
    .option('--port <port>', 'port to listen on (default SQ_API_PORT or 8080; 0 = any free port)')
    .option('--host <host>', 'address to bind (default 0.0.0.0; 127.0.0.1 with --insecure)')
    .option('--insecure', 'serve without SQ_API_TOKEN: no authentication at all, for local use only')
    .option('--scenarios <dir>', 'register the scenario files of this directory, so POST /runs accepts {"scenario": "<name>"}')
    .option('--handlers <module>', 'module with custom handlers, so scenarios using them validate (default SQ_HANDLERS)')
    .action(async (flags: ApiFlags) => {
      const env = cliEnv();
      const token = env.SQ_API_TOKEN;
      if (!token && !flags.insecure) throw new UsageError('SQ_API_TOKEN is not set: set it (at least 16 characters) or pass --insecure for local use without authentication');
      const port = flags.port !== undefined ? intFlag('--port', flags.port, 0) : env.SQ_API_PORT;
      const host = flags.host ?? (token ? '0.0.0.0' : '127.0.0.1');
      const logger = createLogger({ level: env.SQ_LOG_LEVEL });
      const custom = await customHandlers(flags.handlers);
      const scenarios = flags.scenarios ? await loadScenarioDir(flags.scenarios).catch((e: Error) => Promise.reject(new UsageError(e.message))) : scenarioRegistry();
      const client = await openClient();
      const metrics = processMetrics();
      const feed = await startMetricsFeed({ redis: client.redis, keys: client.keys, metrics, consumer: `api-${hostname()}-${process.pid}`, log: logger });
      const app = await createApiServer({
        client,
        token,
        insecure: flags.insecure,
        metrics,
        logger,
        scenarios,
        providers: apiProviders(client),
        knownHandlers: async () => knownHandlerNames(custom, (await client.liveWorkers()).flatMap((w) => w.handlers)),
      });
      await app.listen({ port, host });
      const address = app.server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      if (!token) logger.warn({ host }, 'api runs WITHOUT authentication (--insecure): anyone who can reach it can run and cancel scenarios');
      logger.info({ port: bound, host, scenarios: scenarios.names() }, 'api listening');
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          logger.info({ signal }, 'api stopping');
          app
            .close()
            .then(() => feed.stop())
            .then(() => client.close())
            .catch((err: unknown) => logger.error({ err }, 'close failed'))
            .finally(resolve);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
      logger.flush();
      process.exitCode = 0;
    });
}
