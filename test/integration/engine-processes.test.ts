import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { useTestRedis } from '../support/context.ts';
import { startWorkers, stopAllWorkers, type WorkerProcess } from '../support/workers.ts';
import { eventsOf, parseTestScenario, within } from '../support/engine.ts';
import { count } from '../fixtures/handlers/counter.ts';

const t = useTestRedis('engine-processes', { scope: 'file' });
let workers: WorkerProcess[];
let client: ScenarioClient;

beforeAll(async () => {
  workers = await startWorkers(3, { redisUrl: t.url, prefix: t.prefix, concurrency: 2, handlers: 'test/fixtures/handlers/counter.ts' });
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
});
afterAll(async () => {
  await client?.close();
  await stopAllWorkers();
});

const spread = parseTestScenario(
  `
name: spread
input: { counters: "" }
steps:
  - { id: top, uses: echo, with: { n: 2 } }
${Array.from({ length: 6 }, (_, i) => `  - { id: b${i}, uses: sleep, needs: [top], with: { ms: 300 } }`).join('\n')}
  - id: flaky
    uses: fault
    needs: [top]
    retry: { attempts: 3, backoff: { type: fixed, delayMs: 20, jitter: none } }
    with: { failTimes: 2, kind: server_error }
  - id: join
    uses: count
    needs: [b0, b1, b2, b3, b4, b5, flaky]
    with: { key: "{{ input.counters }}:{{ run.id }}" }
  - { id: check, uses: assert, needs: [join], with: { that: "steps.join.output.count == 1 && steps.top.output.n == 2" } }
`,
  [count],
);

describe('a run spread over 3 worker processes (SPEC §5)', () => {
  it('executes steps on several processes, advances from any of them, and reaches the right verdict', async () => {
    const counters = `${t.prefix}:counters`;
    const { runId } = await client.enqueue(spread, { input: { counters } });
    const summary = await within(client.wait(runId), 30_000, 'spread run');
    expect(summary.status).toBe('succeeded');
    expect(summary.steps.every((s) => s.status === 'succeeded')).toBe(true);
    expect(summary.steps.find((s) => s.id === 'flaky')).toMatchObject({ attempts: 3 });
    expect(await t.redis.get(`${counters}:${runId}`)).toBe('1');

    const events = await eventsOf(client, runId);
    const started = events.filter((e) => e.type === 'step.started');
    const processIds = new Set(workers.map((w) => w.workerId));
    for (const e of started) expect(processIds.has(e.workerId!)).toBe(true);
    expect(new Set(started.map((e) => e.workerId)).size).toBeGreaterThanOrEqual(2);
    expect(started.filter((e) => e.stepId === 'join')).toHaveLength(1);
    // Attempt records name the process that ran them.
    for (const error of summary.steps.find((s) => s.id === 'flaky')!.errors) expect(processIds.has(error.workerId!)).toBe(true);
  });

  it('diamonds finished by different processes enqueue their join once', async () => {
    const counters = `${t.prefix}:diamonds`;
    const def = parseTestScenario(
      `
name: process-diamond
input: { counters: "" }
steps:
  - { id: top, uses: noop }
${Array.from({ length: 6 }, (_, i) => `  - { id: b${i}, uses: noop, needs: [top] }`).join('\n')}
  - { id: join, uses: count, needs: [b0, b1, b2, b3, b4, b5], with: { key: "{{ input.counters }}:{{ run.id }}" } }
`,
      [count],
    );
    const runIds = await Promise.all(Array.from({ length: 10 }, async () => (await client.enqueue(def, { input: { counters } })).runId));
    const summaries = await within(Promise.all(runIds.map((id) => client.wait(id))), 40_000, '10 diamonds');
    for (const [i, summary] of summaries.entries()) {
      expect(summary.status).toBe('succeeded');
      expect(await t.redis.get(`${counters}:${runIds[i]}`)).toBe('1');
      const events = await eventsOf(client, runIds[i]);
      expect(events.filter((e) => e.type === 'step.queued' && e.stepId === 'join')).toHaveLength(1);
    }
  });

  it('a failing run gets the same verdict on processes as in-process', async () => {
    const def = parseTestScenario(`
name: process-fail
steps:
  - { id: ok, uses: noop }
  - { id: bad, uses: fault, needs: [ok], retry: { attempts: 3 }, with: { kind: client_error } }
  - { id: after, uses: noop, needs: [bad] }
  - { id: cleanup, uses: noop, needs: [after], if: "true" }
`);
    const { runId } = await client.enqueue(def);
    const summary = await within(client.wait(runId), 20_000, 'failing run');
    expect(summary.status).toBe('failed');
    expect(summary.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([
      ['ok', 'succeeded', 1],
      ['bad', 'failed', 1],
      ['after', 'skipped', 0],
      ['cleanup', 'succeeded', 1],
    ]);
  });

  it('worker processes stop gracefully on SIGTERM (exit 0)', async () => {
    expect(await Promise.all(workers.map((w) => w.stop()))).toEqual([0, 0, 0]);
  });
});
