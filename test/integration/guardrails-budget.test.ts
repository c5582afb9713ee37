/**
 * Proof 1 of issue #3: budgets hold under attempts racing across worker processes.
 * Calls are exact (http counts one per request); USD uses estimates below the actual
 * price, and the overspend stays within one attempt's actual-minus-estimate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import { useTestRedis } from '../support/context.ts';
import { eventsOf, parseTestScenario, within } from '../support/engine.ts';
import { startFakeLlm, fakeTokenCount, type FakeLlm } from '../support/fake-llm.ts';
import { startHttpTarget, type HttpTarget } from '../support/http-target.ts';
import { startWorkers, stopAllWorkers } from '../support/workers.ts';

const t = useTestRedis('guardrails-budget', { scope: 'file' });
let client: ScenarioClient;
let target: HttpTarget;
let llm: FakeLlm;

// $1 per 1000 tokens either way, so a reply's price is easy to state exactly.
const PRICE_PER_MTOK = 1000;
const PROMPT = 'hello there';

beforeAll(async () => {
  [target, llm] = await Promise.all([startHttpTarget(), startFakeLlm()]);
  await startWorkers(3, { redisUrl: t.url, prefix: t.prefix, concurrency: 4, handlers: 'test/fixtures/handlers/guardrails.ts' });
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  await applyServices(
    client.redis,
    client.keys,
    validateServices({ services: { target: {}, llm: { pricing: { 'fake-model': { inputPerMTok: PRICE_PER_MTOK, outputPerMTok: PRICE_PER_MTOK } } } } }),
  );
});

afterAll(async () => {
  await stopAllWorkers();
  await client?.close();
  await Promise.all([target?.close(), llm?.close()]);
});

/** `count` parallel steps of one handler, retried up to 3 times if they were ever retried. */
function parallelSteps(name: string, count: number, step: (i: number) => string): string {
  const steps = Array.from({ length: count }, (_, i) => step(i)).join('\n');
  return `name: ${name}\nmaxParallel: ${count}\ndefaults: { retry: { attempts: 3, backoff: { type: fixed, delayMs: 10 } } }\nsteps:\n${steps}`;
}

describe('budgets across worker processes', () => {
  it('a budget of N calls with 5N racing attempts commits at most N; every refusal is budget_exceeded and none is retried', async () => {
    const N = 8;
    const def = parseTestScenario(
      parallelSteps('calls-race', 5 * N, (i) => `  - { id: s${i}, uses: http, service: target, with: { url: "${target.url}/json" } }`),
    );
    const { runId } = await client.enqueue(def, { budget: { calls: N } });
    const summary = await within(client.wait(runId), 60_000, 'calls race');

    const succeeded = summary.steps.filter((s) => s.status === 'succeeded');
    const refused = summary.steps.filter((s) => s.status !== 'succeeded');
    expect(target.requests.length).toBeLessThanOrEqual(N);
    expect(summary.cost.calls).toBe(target.requests.length);
    // Estimates are exact for http, so the whole budget is used, not a call more.
    expect(succeeded).toHaveLength(N);
    expect(refused).toHaveLength(4 * N);
    for (const step of refused) {
      expect(step.status).toBe('failed');
      expect(step.attempts).toBe(1);
      expect(step.errors.map((e) => e.kind)).toEqual(['budget_exceeded']);
    }
    expect(summary.status).toBe('failed');
    const events = await eventsOf(client, runId);
    expect(events.filter((e) => e.type === 'budget.exceeded')).toHaveLength(4 * N);
    expect(events.filter((e) => e.type === 'step.retrying')).toHaveLength(0);
  });

  it('with USD estimates below actuals, the overspend is at most one attempt’s actual minus estimate', async () => {
    const completion = `[fake-model] ${PROMPT}`;
    const actualUsd = ((fakeTokenCount(PROMPT) + fakeTokenCount(completion)) * PRICE_PER_MTOK) / 1_000_000;
    const estimateUsd = Math.round(actualUsd * 0.7 * 1e6) / 1e6;
    const limitUsd = 0.1;
    const def = parseTestScenario(
      parallelSteps(
        'usd-race',
        30,
        (i) => `  - { id: q${i}, uses: llm, service: llm, cost: { usd: ${estimateUsd} }, with: { model: fake-model, prompt: "${PROMPT}", baseUrl: "${llm.url}" } }`,
      ),
    );
    const { runId } = await client.enqueue(def, { budget: { usd: limitUsd } });
    const summary = await within(client.wait(runId), 60_000, 'usd race');

    const succeeded = summary.steps.filter((s) => s.status === 'succeeded');
    expect(summary.cost.usd).toBeCloseTo(succeeded.length * actualUsd, 6);
    expect(llm.requests.length).toBe(succeeded.length);
    expect(summary.cost.usd).toBeLessThanOrEqual(limitUsd + (actualUsd - estimateUsd) + 1e-9);
    // Not trivially under-used: it stops only when one more estimate no longer fits.
    expect(summary.cost.usd + estimateUsd).toBeGreaterThan(limitUsd);
    // With these prices exactly 11 calls fit (docs/guardrails.md): 11 × $0.009.
    expect(succeeded).toHaveLength(11);
    expect(summary.cost.usd).toBeCloseTo(0.099, 9);
    // The summary reports spend per service and per scope.
    expect(summary.costByService?.llm).toEqual(summary.cost);
    expect(summary.budgets).toEqual([{ scope: 'run', limits: { usd: limitUsd }, onExceed: 'fail', spent: { usd: 0.099, tokens: 11 * 9, calls: 11 } }]);
    for (const step of summary.steps.filter((s) => s.status !== 'succeeded')) {
      expect(step.attempts).toBe(1);
      expect(step.errors.map((e) => e.kind)).toEqual(['budget_exceeded']);
    }
    for (const step of succeeded) expect(step.cost?.usd).toBeCloseTo(actualUsd, 9);
  });

  it('a warn budget lets every step run and says so once with budget.warning', async () => {
    const def = parseTestScenario(
      `name: warned\nmaxParallel: 4\nbudget: { calls: 2, onExceed: warn }\nsteps:\n${[0, 1, 2, 3].map((i) => `  - { id: w${i}, uses: http, service: target, with: { url: "${target.url}/json?w" } }`).join('\n')}`,
    );
    const { runId } = await client.enqueue(def);
    const summary = await within(client.wait(runId), 30_000, 'warn budget');
    expect(summary.status).toBe('succeeded');
    expect(summary.cost.calls).toBe(4);
    const warnings = (await eventsOf(client, runId)).filter((e) => e.type === 'budget.warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].data).toMatchObject({ scope: 'run', resource: 'calls', limit: 2 });
  });

  it('a suite budget is shared by the runs of the suite', async () => {
    const def = (name: string) => parseTestScenario(parallelSteps(name, 3, (i) => `  - { id: c${i}, uses: http, service: target, with: { url: "${target.url}/json?${name}" } }`));
    const suite = `suite-${t.prefix}`;
    const runs = await Promise.all(['suite-a', 'suite-b'].map((name) => client.enqueue(def(name), { suite, suiteBudget: { calls: 3 } })));
    const summaries = await Promise.all(runs.map(({ runId }) => within(client.wait(runId), 30_000, 'suite run')));
    const steps = summaries.flatMap((s) => s.steps);
    expect(steps.filter((s) => s.status === 'succeeded')).toHaveLength(3);
    expect(summaries.reduce((n, s) => n + s.cost.calls, 0)).toBe(3);
    for (const step of steps.filter((s) => s.status !== 'succeeded')) expect(step.errors[0]?.message).toMatch(/^suite budget exceeded: calls limit 3/);
  });
});
