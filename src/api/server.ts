import { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ScenarioClient } from '../client.ts';
import { STEP_QUEUE } from '../redis/keys.ts';
import { closeDeadlineQueue, deadlineQueueOf } from '../engine/jobs.ts';
import type { Metrics } from '../observability/metrics.ts';
import { createAuth } from './auth.ts';
import { BULL_BOARD_PATH, mountBullBoard } from './bull-board.ts';
import { installErrorHandlers } from './http-errors.ts';
import type { ApiProviders } from './providers.ts';
import { registerDashboardRoutes } from './routes/dashboard.ts';
import { registerOpsRoutes } from './routes/ops.ts';
import { registerRunRoutes } from './routes/runs.ts';
import { scenarioRegistry, type ScenarioRegistry } from './scenarios.ts';

export interface ApiServerOptions {
  readonly client: ScenarioClient;
  /** SQ_API_TOKEN. Required unless `insecure`. */
  readonly token?: string;
  /** Serve without any authentication (local use only). */
  readonly insecure?: boolean;
  readonly metrics: Metrics;
  /** Handler names a scenario may use now. */
  readonly knownHandlers: () => Promise<Iterable<string>>;
  readonly scenarios?: ScenarioRegistry;
  readonly providers?: ApiProviders;
  readonly logger: Logger;
  /** Larger bodies get 413. @default 2 MiB (a scenario may be 1 MiB) */
  readonly bodyLimitBytes?: number;
  /** @default 100 */
  readonly maxEventStreams?: number;
  readonly sessionTtlMs?: number;
}

export const DEFAULT_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without authentication (health, login page and its assets). */
    public?: boolean;
  }
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Same-origin check for cookie-authenticated writes (CSRF), on top of SameSite=Strict. */
function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Builds the HTTP API of SPEC §16 (not listening yet: call `listen`). */
export async function createApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  if (!options.token && !options.insecure) throw new Error('SQ_API_TOKEN is required (or start with --insecure for local use only)');
  const bodyLimitBytes = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const auth = createAuth({ token: options.token, sessionTtlMs: options.sessionTtlMs });
  const logger: FastifyBaseLogger = options.logger;
  const app = Fastify({ loggerInstance: logger, bodyLimit: bodyLimitBytes, return503OnClosing: true });
  const providers = options.providers ?? {};
  const scenarios = options.scenarios ?? scenarioRegistry();
  installErrorHandlers(app, bodyLimitBytes);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    if (request.routeOptions.config?.public) return;
    const method = auth.check({ authorization: request.headers.authorization, cookie: request.headers.cookie });
    if (method === 'session' && UNSAFE_METHODS.has(request.method) && !sameOrigin(request.headers.origin, request.headers.host)) {
      return reply.code(403).send({ error: 'cross-origin request refused' });
    }
    if (method !== undefined) return;
    reply.header('www-authenticate', 'Bearer realm="scenario-queue"');
    if (request.method === 'GET' && (request.url === '/' || request.url.startsWith(BULL_BOARD_PATH)) && request.headers.accept?.includes('text/html')) {
      // A browser without a session: the page says where to log in.
      return reply.code(401).type('text/html; charset=utf-8').send('<!doctype html><meta http-equiv="refresh" content="0;url=/login"><a href="/login">log in</a>');
    }
    return reply.code(401).send({ error: 'missing or wrong bearer token' });
  });

  registerRunRoutes(app, { client: options.client, scenarios, knownHandlers: options.knownHandlers, providers, maxEventStreams: options.maxEventStreams ?? 100 });
  registerOpsRoutes(app, { client: options.client, metrics: options.metrics, providers, scenarios });
  registerDashboardRoutes(app, { auth });

  const queue = new Queue(STEP_QUEUE, { connection: options.client.redis, prefix: options.client.keys.prefix });
  await mountBullBoard(app, [queue, deadlineQueueOf(queue)]);
  app.addHook('onClose', async () => {
    await closeDeadlineQueue(queue).catch(() => {});
    await queue.close().catch(() => {});
  });
  return app;
}
