import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ScenarioClient } from '../../client.ts';
import type { Metrics } from '../../observability/metrics.ts';
import { SCENARIO_NAME_PATTERN } from '../../scenario/schema.ts';
import { HttpError, parseWith } from '../http-errors.ts';
import type { ApiProviders } from '../providers.ts';
import type { ScenarioRegistry } from '../scenarios.ts';

export interface OpsRoutesOptions {
  readonly client: ScenarioClient;
  readonly metrics: Metrics;
  readonly providers: ApiProviders;
  readonly scenarios: ScenarioRegistry;
}

const HaltBody = z.strictObject({
  scenario: z.string().regex(SCENARIO_NAME_PATTERN).optional(),
  reason: z.string().trim().min(1, 'say why (it is shown to everyone whose runs are refused)').max(500),
  abortRunning: z.boolean().optional(),
});
const UnhaltQuery = z.strictObject({ scenario: z.string().regex(SCENARIO_NAME_PATTERN).optional() });

const READY_TIMEOUT_MS = 1_000;

const unavailable = (what: string) => new HttpError(501, `${what} is not available in this build`);

/** Kill switch, services, recovery, scenarios, health and metrics routes of SPEC §16. */
export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  const { client, providers } = options;

  app.post('/halt', async (request) => {
    const body = parseWith(HaltBody, request.body, 'request body');
    if (!providers.halt) throw unavailable('halt');
    return { halted: true, ...(body.scenario ? { scenario: body.scenario } : {}), result: await providers.halt(body) };
  });

  app.delete('/halt', async (request) => {
    const { scenario } = parseWith(UnhaltQuery, request.query, 'query');
    if (!providers.unhalt) throw unavailable('unhalt');
    return { halted: false, ...(scenario ? { scenario } : {}), result: await providers.unhalt(scenario) };
  });

  app.get('/services', async () => (providers.services ? providers.services() : { services: [], note: 'no guardrails module wired: no services configured' }));

  app.get('/recovery/status', async () => ({ report: (await providers.recoveryStatus?.()) ?? null }));

  app.get('/scenarios', async () => ({ scenarios: options.scenarios.names() }));

  app.get('/healthz', { config: { public: true } }, async () => ({ ok: true }));

  app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([client.redis.ping(), timeout]);
      return { ok: true, redis: 'ok' };
    } catch {
      return reply.code(503).send({ ok: false, redis: `no answer to PING within ${READY_TIMEOUT_MS}ms` });
    } finally {
      clearTimeout(timer);
    }
  });

  app.get('/metrics', async (_request, reply) => reply.type(options.metrics.contentType).send(await options.metrics.render()));
}
