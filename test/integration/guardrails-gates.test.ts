/**
 * Proof 6 of issue #3: credential gates (skip, mock, fail) at enqueue and on the worker,
 * and a canary secret that never reaches a log line, an event, a summary or any value
 * stored in Redis, although a careless handler logs, checkpoints, returns and throws it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import type { RunSummary } from '../../src/engine/types.ts';
import type { RecordingsFile } from '../../src/guardrails/recordings.ts';
import { leaky, tracked } from '../fixtures/handlers/guardrails.ts';
import { runCli } from '../support/cli.ts';
import { useTestRedis } from '../support/context.ts';
import { eventsOf, parseTestScenario, within } from '../support/engine.ts';
import { startHttpTarget, type HttpTarget } from '../support/http-target.ts';
import { startWorkers, stopAllWorkers, type WorkerProcess } from '../support/workers.ts';

const t = useTestRedis('guardrails-gates', { scope: 'file' });
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
let client: ScenarioClient;
let target: HttpTarget;
let workers: WorkerProcess[];

beforeAll(async () => {
  target = await startHttpTarget();
  const base = { redisUrl: t.url, prefix: t.prefix, concurrency: 2, handlers: 'test/fixtures/handlers/guardrails.ts' };
  // Two workers hold the canary; the third does not, so steps that need it must avoid that one.
  workers = [...(await startWorkers(2, { ...base, env: { CANARY_TOKEN: CANARY } })), ...(await startWorkers(1, base))];
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
});

afterAll(async () => {
  await stopAllWorkers();
  await client?.close();
  await target?.close();
});

const scenario = (yaml: string) => parseTestScenario(yaml, [tracked, leaky]);

async function runToEnd(yaml: string) {
  const { runId } = await client.enqueue(scenario(yaml));
  return { runId, summary: await within(client.wait(runId), 30_000, yaml.split('\n')[0]) };
}

const stepOf = (summary: RunSummary, id: string) => summary.steps.find((s) => s.id === id);

/** Three policies for a credential nobody holds, and one step that needs nothing. */
function gatedScenario(name: string): string {
  return `name: ${name}
steps:
  - { id: free, uses: http, with: { url: "${target.url}/json" } }
  - { id: gated-skip, uses: http, credentials: [NOBODY_HAS_IT], onMissingCredentials: skip, with: { url: "${target.url}/json?skip" } }
  - id: gated-mock
    uses: http
    credentials: [NOBODY_HAS_IT]
    onMissingCredentials: mock
    with: { url: "${target.url}/json?mock" }
    mock: { output: { status: 200, headers: {}, body: { mocked: true } } }
  - { id: gated-fail, uses: http, credentials: [NOBODY_HAS_IT], onMissingCredentials: fail, with: { url: "${target.url}/json?fail" } }
  - { id: after-skip, uses: noop, needs: [gated-skip] }`;
}

function expectGated(summary: RunSummary): void {
  expect(stepOf(summary, 'free')?.status).toBe('succeeded');
  expect(stepOf(summary, 'gated-skip')).toMatchObject({ status: 'skipped', reason: 'credentials_missing' });
  expect(stepOf(summary, 'after-skip')).toMatchObject({ status: 'skipped', reason: 'upstream_failed' });
  expect(stepOf(summary, 'gated-mock')?.status).toBe('succeeded');
  const failed = stepOf(summary, 'gated-fail');
  expect(failed?.status).toBe('failed');
  expect(failed?.errors[0]).toMatchObject({ kind: 'credentials_missing' });
  expect(failed?.errors[0].message).toContain('NOBODY_HAS_IT');
  expect(summary.status).toBe('failed');
  // Neither the mocked nor the gated steps reached the service.
  expect(target.requests.filter((r) => /\?(skip|mock|fail)/.test(r.url))).toHaveLength(0);
}

describe('credential gates', () => {
  it('workers advertise the names they hold, never values', async () => {
    const live = await client.liveWorkers();
    expect(live.filter((w) => w.credentials.includes('CANARY_TOKEN'))).toHaveLength(2);
    expect(JSON.stringify(live)).not.toContain(CANARY);
  });

  it('at enqueue: no live worker holds the name, so each policy applies at once', async () => {
    const { runId, summary } = await runToEnd(gatedScenario('gates-enqueue'));
    expectGated(summary);
    const events = await eventsOf(client, runId);
    // Decided by the client before any worker saw the steps: no workerId on the events.
    const skipped = events.find((e) => e.type === 'step.skipped' && e.stepId === 'gated-skip');
    expect(skipped?.workerId).toBeUndefined();
    expect(skipped?.data).toMatchObject({ reason: 'credentials_missing', missing: ['NOBODY_HAS_IT'] });
  });

  it('on the worker: the only holder left after enqueue, so the workers apply each policy', async () => {
    // A worker that holds the name is live at enqueue, and gone before the steps run.
    const ghost = `ghost-${randomBytes(3).toString('hex')}`;
    const info = { workerId: ghost, hostname: 'ghost', pid: 0, concurrency: 1, startedAt: Date.now(), lastSeen: Date.now(), handlers: [], credentials: ['NOBODY_HAS_IT'], inflight: 0 };
    await t.redis.multi().zadd(client.keys.workers, Date.now(), ghost).set(client.keys.worker(ghost), JSON.stringify(info)).exec();
    const { runId } = await client.enqueue(scenario(gatedScenario('gates-worker')));
    await t.redis.multi().zrem(client.keys.workers, ghost).del(client.keys.worker(ghost)).exec();
    const summary = await within(client.wait(runId), 30_000, 'gates-worker');
    expectGated(summary);
    const skipped = (await eventsOf(client, runId)).find((e) => e.type === 'step.skipped' && e.stepId === 'gated-skip');
    expect(skipped?.workerId).toBeDefined();
  });

  it('a scenario-level gate with skip skips the whole run: status skipped, exit code 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sq-gates-'));
    const file = join(dir, 'skip-all.yaml');
    writeFileSync(file, `name: gates-skip-all\ncredentials: [NOBODY_HAS_IT]\nsteps:\n  - { id: a, uses: http, with: { url: "${target.url}/json?skip" } }\n  - { id: b, uses: noop, needs: [a] }\n`);
    const result = await runCli(['run', file, '--wait', '--json'], { env: { REDIS_URL: t.url, SQ_PREFIX: t.prefix } });
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as RunSummary;
    expect(summary.status).toBe('skipped');
    expect(summary.reason).toContain('NOBODY_HAS_IT');
    expect(summary.steps.map((s) => [s.status, s.reason])).toEqual([
      ['skipped', 'credentials_missing'],
      ['skipped', 'credentials_missing'],
    ]);
  });

  it('steps that need a name some workers hold run only on those workers', async () => {
    const key = `${t.prefix}:test:holders`;
    const steps = Array.from({ length: 6 }, (_, i) => `  - { id: h${i}, uses: tracked, credentials: [CANARY_TOKEN], onMissingCredentials: fail, with: { key: "${key}", ms: 100 } }`);
    const { summary } = await runToEnd(`name: gates-holders\nsteps:\n${steps.join('\n')}`);
    expect(summary.status).toBe('succeeded');
    const holders = new Set(workers.slice(0, 2).map((w) => w.pid));
    const pids = (await t.redis.lrange(`${key}:ends`, 0, -1)).map((s) => (JSON.parse(s) as { pid: number }).pid);
    expect(pids).toHaveLength(6);
    for (const pid of pids) expect(holders.has(pid)).toBe(true);
  });
});

describe('secret redaction', () => {
  it('the canary never reaches logs, events, summaries or anything stored in Redis', async () => {
    const { runId, summary } = await runToEnd(`name: canary
defaults: { retry: { attempts: 2, retryOn: [error], backoff: { type: fixed, delayMs: 10 } } }
steps:
  - { id: leak-ok, uses: leaky, credentials: [CANARY_TOKEN] }
  - { id: leak-fail, uses: leaky, credentials: [CANARY_TOKEN], with: { fail: true } }`);
    expect(stepOf(summary, 'leak-ok')?.status).toBe('succeeded');
    expect(stepOf(summary, 'leak-fail')?.status).toBe('failed');
    // The handler really had the secret: what it leaked shows up redacted.
    const output = await t.redis.hget(client.keys.runOutputs(runId), 'leak-ok');
    expect(output).toContain('[redacted:CANARY_TOKEN]');
    expect(stepOf(summary, 'leak-fail')?.errors.map((e) => e.message)).toEqual([
      'upstream refused token [redacted:CANARY_TOKEN]',
      'upstream refused token [redacted:CANARY_TOKEN]',
    ]);

    // Log lines of every worker process, including the handler's own ctx.log lines.
    await new Promise((r) => setTimeout(r, 300));
    const lines = workers.flatMap((w) => w.lines());
    expect(lines.some((l) => l.includes('[redacted:CANARY_TOKEN]'))).toBe(true);
    expect(lines.filter((l) => l.includes(CANARY))).toEqual([]);

    expect(JSON.stringify(summary)).not.toContain(CANARY);
    expect(JSON.stringify(await eventsOf(client, runId))).not.toContain(CANARY);

    // Every value of every key under the prefix: run state, events, queue, guardrails.
    const leaks: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await t.redis.scan(cursor, 'MATCH', `${t.prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of found) {
        const dump = JSON.stringify(await readAny(key));
        if (dump.includes(CANARY)) leaks.push(key);
      }
    } while (cursor !== '0');
    expect(leaks).toEqual([]);
  });
});

async function readAny(key: string): Promise<unknown> {
  const type = await t.redis.type(key);
  if (type === 'string') return t.redis.get(key);
  if (type === 'hash') return t.redis.hgetall(key);
  if (type === 'list') return t.redis.lrange(key, 0, -1);
  if (type === 'set') return t.redis.smembers(key);
  if (type === 'zset') return t.redis.zrange(key, 0, -1, 'WITHSCORES');
  if (type === 'stream') return t.redis.xrange(key, '-', '+');
  return type;
}

describe('mock mode and recordings', () => {
  it('--record keeps live http responses; --mock replays them without a call, else uses mock.output; export/import carries them', async () => {
    const yaml = `name: recorded
input: { v: 1 }
steps:
  - id: fetch
    uses: http
    credentials: [CANARY_TOKEN]
    with: { url: "${target.url}/echo?v={{ input.v }}", headers: { authorization: "Bearer {{ secrets.CANARY_TOKEN }}" } }
    mock: { output: { status: 200, headers: {}, body: { fallback: true } } }`;
    const outputOf = async (runId: string) => JSON.parse((await t.redis.hget(client.keys.runOutputs(runId), 'fetch')) ?? 'null') as { body: unknown };
    const live = await client.enqueue(scenario(yaml), { record: true });
    expect((await within(client.wait(live.runId), 20_000, 'recording run')).status).toBe('succeeded');
    const recorded = await outputOf(live.runId);
    expect(recorded.body).toMatchObject({ query: { v: '1' }, headers: { authorization: 'Bearer [redacted:CANARY_TOKEN]' } });

    const calls = target.requests.length;
    const replay = async (v: number) => {
      const { runId } = await client.enqueue(scenario(yaml), { mock: true, input: { v } });
      expect((await within(client.wait(runId), 20_000, 'mocked run')).status).toBe('succeeded');
      return outputOf(runId);
    };
    expect(await replay(1)).toEqual(recorded);
    // Another request has no recording: the step's mock.output answers.
    expect((await replay(2)).body).toEqual({ fallback: true });
    expect(target.requests.length).toBe(calls);

    const env = { REDIS_URL: t.url, SQ_PREFIX: t.prefix };
    const file = join(mkdtempSync(join(tmpdir(), 'sq-rec-')), 'recordings.json');
    const exported = await runCli(['recordings', 'export', '--scenario', 'recorded', '--out', file], { env });
    expect(exported.code, exported.stderr).toBe(0);
    expect((JSON.parse(readFileSync(file, 'utf8')) as RecordingsFile).recordings.map((r) => [r.scenario, r.step, r.handler])).toEqual([['recorded', 'fetch', 'http']]);
    await t.redis.del(client.keys.guard.recordings('recorded'));
    expect((await replay(1)).body).toEqual({ fallback: true });
    const imported = await runCli(['recordings', 'import', file], { env });
    expect(imported.stdout).toContain('imported 1 recording(s)');
    expect(await replay(1)).toEqual(recorded);
  });
});
