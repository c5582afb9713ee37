import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RUN_ID_PATTERN, type ScenarioClient } from '../../client.ts';
import { readRun, summarize } from '../../engine/summary.ts';
import { RUN_STATUSES } from '../../engine/types.ts';
import { isScenarioError } from '../../errors.ts';
import { validateScenario } from '../../scenario/load.ts';
import { isScenarioValidationError } from '../../scenario/errors.ts';
import { MAX_DURATION_MS, SCENARIO_NAME_PATTERN } from '../../scenario/schema.ts';
import type { ScenarioDef } from '../../scenario/types.ts';
import { HttpError, invalid, parseWith } from '../http-errors.ts';
import { listRuns } from '../runs-list.ts';
import { minimalBundle, type ApiProviders } from '../providers.ts';
import type { ScenarioRegistry } from '../scenarios.ts';
import { STREAM_ID, streamRunEvents } from '../sse.ts';

export interface RunRoutesOptions {
  readonly client: ScenarioClient;
  readonly scenarios: ScenarioRegistry;
  /** Handler names a scenario may use now (built-ins, custom modules, live workers). */
  readonly knownHandlers: () => Promise<Iterable<string>>;
  readonly providers: ApiProviders;
  /** Open SSE streams at once; more get 503. */
  readonly maxEventStreams: number;
}

const SUITE = /^[A-Za-z0-9._:-]{1,128}$/;

const RunRequest = z.strictObject({
  scenario: z.union([z.string().regex(SCENARIO_NAME_PATTERN, 'must be a registered scenario name or a scenario object'), z.record(z.string(), z.unknown())]),
  input: z.record(z.string(), z.unknown()).optional(),
  suite: z.string().regex(SUITE, `must match ${SUITE}`).optional(),
  mock: z.boolean().optional(),
  timeoutMs: z.number().int().positive().max(MAX_DURATION_MS).optional(),
});

const ListQuery = z.strictObject({
  status: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.enum(RUN_STATUSES)))
    .optional(),
  scenario: z.string().regex(SCENARIO_NAME_PATTERN).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().positive().optional(),
});

const RunParams = z.object({ id: z.string().regex(RUN_ID_PATTERN, 'not a run id') });
const CancelBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();
const EventsQuery = z.strictObject({ lastEventId: z.string().regex(STREAM_ID).optional() });

/** Refusals by the guardrails at enqueue (halt, credentials, budget) are the caller's to fix. */
const REFUSED_KINDS = new Set(['halted', 'credentials_missing', 'budget_exceeded', 'circuit_open', 'invalid_input']);

/** `/runs…` routes of SPEC §16. */
export function registerRunRoutes(app: FastifyInstance, options: RunRoutesOptions): void {
  const { client, providers } = options;
  let openStreams = 0;

  async function resolveScenario(scenario: string | Record<string, unknown>): Promise<ScenarioDef> {
    const known = await options.knownHandlers();
    let value: unknown = scenario;
    if (typeof scenario === 'string') {
      value = options.scenarios.get(scenario);
      if (value === undefined) {
        const names = options.scenarios.names();
        throw invalid('request body', [{ path: 'scenario', message: `no registered scenario "${scenario}" (registered: ${names.length > 0 ? names.join(', ') : 'none'})` }]);
      }
    }
    try {
      return validateScenario(value, { knownHandlers: known });
    } catch (e) {
      if (!isScenarioValidationError(e)) throw e;
      throw invalid('scenario', e.issues.map((i) => ({ path: i.path ? `scenario.${i.path}` : 'scenario', message: i.message })));
    }
  }

  async function existing(id: string): Promise<void> {
    if (!(await client.redis.exists(client.keys.run(id)))) throw new HttpError(404, `run ${id} not found`);
  }

  app.post('/runs', async (request, reply) => {
    const body = parseWith(RunRequest, request.body, 'request body');
    const def = await resolveScenario(body.scenario);
    try {
      const { runId } = await client.enqueue(def, { input: body.input, suite: body.suite, mock: body.mock, timeoutMs: body.timeoutMs });
      return reply.code(201).header('location', `/runs/${runId}`).send({ runId });
    } catch (e) {
      if (isScenarioError(e) && REFUSED_KINDS.has(e.kind)) throw new HttpError(409, e.message, { kind: e.kind });
      throw e;
    }
  });

  app.get('/runs', async (request) => {
    const query = parseWith(ListQuery, request.query, 'query', '');
    return listRuns(client.redis, client.keys, { status: query.status, scenario: query.scenario, limit: query.limit, before: query.before });
  });

  app.get('/runs/:id', async (request) => {
    const { id } = parseWith(RunParams, request.params, 'path');
    const snapshot = await readRun(client.redis, client.keys, id);
    if (!snapshot) throw new HttpError(404, `run ${id} not found`);
    return { ...summarize(id, snapshot), budget: snapshot.def.budget ?? null };
  });

  app.get('/runs/:id/events', async (request, reply) => {
    const { id } = parseWith(RunParams, request.params, 'path');
    const query = parseWith(EventsQuery, request.query, 'query');
    const header = request.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && header !== '' ? header : query.lastEventId;
    if (lastEventId !== undefined && !STREAM_ID.test(lastEventId)) throw invalid('request', [{ path: 'Last-Event-ID', message: 'must be a stream entry id such as 1700000000000-0' }]);
    await existing(id);
    if (openStreams >= options.maxEventStreams) throw new HttpError(503, `too many open event streams (${options.maxEventStreams}); retry later`);
    openStreams++;
    try {
      await streamRunEvents(request, reply, { client, runId: id, after: lastEventId });
    } finally {
      openStreams--;
    }
  });

  app.post('/runs/:id/cancel', async (request) => {
    const { id } = parseWith(RunParams, request.params, 'path');
    const body = parseWith(CancelBody, request.body ?? undefined, 'request body');
    await existing(id);
    const cancelled = await client.cancel(id, body?.reason ?? 'cancelled through the API');
    return { runId: id, cancelled, status: (await client.status(id))?.status };
  });

  app.get('/runs/:id/bundle', async (request) => {
    const { id } = parseWith(RunParams, request.params, 'path');
    const bundle = providers.bundle ? await providers.bundle(id) : await minimalBundle(client, id);
    if (bundle === undefined) throw new HttpError(404, `run ${id} not found`);
    return bundle;
  });
}
