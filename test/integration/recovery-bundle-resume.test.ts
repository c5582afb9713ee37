import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { createWorker, type ScenarioWorker } from '../../src/worker/worker.ts';
import { buildBundle, type FailureBundle } from '../../src/engine/bundle.ts';
import { planResume } from '../../src/engine/resume.ts';
import { MAX_INLINE_ARTIFACT_BYTES } from '../../src/worker/artifacts.ts';
import { partial } from '../fixtures/handlers/recovery.ts';
import { useTestRedis } from '../support/context.ts';
import { eventsOf, parseTestScenario, silentLogger, within } from '../support/engine.ts';

const exec = promisify(execFile);
const t = useTestRedis('recovery-bundle', { scope: 'file' });
const handlers = [partial];
let client: ScenarioClient;
let worker: ScenarioWorker;
let artifactDir: string;

beforeAll(async () => {
  artifactDir = await mkdtemp(join(tmpdir(), 'sq-artifacts-'));
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  worker = await createWorker({ redisUrl: t.url, prefix: t.prefix, logger: silentLogger, handlers, artifactDir, shutdownGraceMs: 1_000 });
});
afterAll(async () => {
  await worker?.close();
  await client?.close();
  await rm(artifactDir, { recursive: true, force: true });
});

const journey = (fixed: boolean) =>
  parseTestScenario(
    `
name: journey
input: { user: alice }
steps:
  - { id: login, uses: echo, with: { user: "{{ input.user }}", token: t-1 } }
  - { id: cart, uses: echo, needs: [login], with: { items: 3 } }
  - id: pay
    uses: partial
    needs: [cart]
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 10, jitter: none } }
    with: ${fixed ? '{}' : '{ kind: transient }'}
  - { id: receipt, uses: echo, needs: [pay], with: { paid: "{{ steps.pay.output.done }}" } }
  - { id: audit, uses: noop, needs: [login] }
`,
    handlers,
  );

async function failedRun(): Promise<{ runId: string; bundle: FailureBundle }> {
  const { runId } = await client.enqueue(journey(false));
  const summary = await within(client.wait(runId), 20_000, 'journey');
  expect(summary.status).toBe('failed');
  return { runId, bundle: (await buildBundle(client.redis, client.keys, runId))! };
}

describe('failure bundle (SPEC §12)', () => {
  it('holds the summary, scenario, input, every attempt, outputs, checkpoints, logs, artifacts and the timeline', async () => {
    const { runId, bundle } = await failedRun();
    expect(bundle).toMatchObject({ bundleVersion: 1, runId, scenario: { name: 'journey' }, input: { user: 'alice' } });
    expect(bundle.summary.status).toBe('failed');
    expect(bundle.summary.steps.map((s) => [s.id, s.status])).toEqual([
      ['login', 'succeeded'],
      ['cart', 'succeeded'],
      ['pay', 'failed'],
      ['receipt', 'skipped'],
      ['audit', 'succeeded'],
    ]);
    expect(bundle.attempts.pay.map((a) => [a.attempt, a.kind, a.message])).toEqual([
      [1, 'transient', 'partial failed after 3 of 10 (attempt 1)'],
      [2, 'transient', 'partial failed after 3 of 10 (attempt 2)'],
    ]);
    // A succeeded attempt is not stored on its own: its record is made from the step's fields.
    const login = bundle.summary.steps[0];
    expect(bundle.attempts.login).toEqual([{ attempt: 1, workerId: expect.any(String), startedAt: Date.parse(login.startedAt!), finishedAt: Date.parse(login.finishedAt!), status: 'succeeded' }]);
    expect(bundle.attempts.login[0].workerId).not.toBe('');
    expect(await client.redis.hexists(client.keys.runAttempts(runId), 'login|1')).toBe(0);
    expect(bundle.attempts.pay[0].stack).toContain('partial failed');
    expect(bundle.attempts.pay[0].retryDelayMs).toBe(10);
    expect(bundle.outputs).toEqual({ login: { user: 'alice', token: 't-1' }, cart: { items: 3 }, audit: null });
    expect(bundle.checkpoints.pay.map((c) => [c.attempt, c.data])).toEqual([
      [1, { done: 3, of: 10, attempt: 1 }],
      [2, { done: 3, of: 10, attempt: 2 }],
    ]);
    expect(bundle.logs.pay.map((l) => [l.attempt, l.lines.map((x) => (JSON.parse(x) as { msg: string }).msg)])).toEqual([
      [1, ['partial work started', 'partial work stopped']],
      [2, ['partial work started', 'partial work stopped']],
    ]);
    expect(bundle.artifacts.map((a) => [a.stepId, a.attempt, a.name, a.storage])).toEqual(
      expect.arrayContaining([['pay', 1, 'trace.txt', 'redis'], ['pay', 2, 'trace.txt', 'redis']]),
    );
    expect(bundle.timeline[0].type).toBe('run.queued');
    expect(bundle.timeline.at(-1)?.type).toBe('run.failed');
    expect(bundle).toHaveProperty('cost.run');
    expect(bundle).toHaveProperty('budget.run');
    expect(bundle.circuits).toEqual({});
  });

  it('keeps small artifacts in Redis, writes large ones to SQ_ARTIFACT_DIR, and refuses them with a clear error without it', async () => {
    const big = parseTestScenario(`name: big\nsteps:\n  - { id: big, uses: partial, with: { artifactBytes: ${MAX_INLINE_ARTIFACT_BYTES + 1} } }\n`, handlers);
    const { runId } = await client.enqueue(big);
    expect((await within(client.wait(runId), 20_000, 'big')).status).toBe('succeeded');
    const [entry] = (await buildBundle(client.redis, client.keys, runId))!.artifacts;
    expect(entry).toMatchObject({ storage: 'file', size: MAX_INLINE_ARTIFACT_BYTES + 1 });
    expect((await readFile(entry.path!)).length).toBe(MAX_INLINE_ARTIFACT_BYTES + 1);

    const prefix = `${t.prefix}-nodir`;
    const bare = await createWorker({ redisUrl: t.url, prefix, logger: silentLogger, handlers, shutdownGraceMs: 500 });
    const bareClient = await createClient({ redisUrl: t.url, prefix });
    try {
      const { runId: refused } = await bareClient.enqueue(big);
      const summary = await within(bareClient.wait(refused), 20_000, 'refused');
      expect(summary.steps[0].errors[0]).toMatchObject({ kind: 'invalid_output' });
      expect(summary.steps[0].errors[0].message).toMatch(/artifact "trace.txt" \(262145 bytes\) refused: .*SQ_ARTIFACT_DIR, which is not set/);
    } finally {
      await bare.close();
      await bareClient.close();
    }
  });
});

describe('resume (SPEC §12)', () => {
  it('reuses the succeeded steps (status reused, no attempt, no cost) and runs the rest', async () => {
    const { runId: failed } = await failedRun();
    const plan = (await planResume(client.redis, client.keys, failed, journey(true)))!;
    expect([...plan.reused.keys()].sort()).toEqual(['audit', 'cart', 'login']);
    expect(plan.rerun).toEqual([
      { stepId: 'pay', why: 'was failed' },
      { stepId: 'receipt', why: 'was skipped' },
    ]);
    const { runId } = await client.enqueue(journey(true), { input: plan.from.input, resume: { fromRunId: failed, reused: plan.reused } });
    const summary = await within(client.wait(runId), 20_000, 'resumed');
    expect(summary.status).toBe('succeeded');
    expect(summary.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([
      ['login', 'reused', 0],
      ['cart', 'reused', 0],
      ['pay', 'succeeded', 1],
      ['receipt', 'succeeded', 1],
      ['audit', 'reused', 0],
    ]);
    expect(summary.steps.filter((s) => s.status === 'reused').every((s) => s.cost === undefined)).toBe(true);
    const bundle = (await buildBundle(client.redis, client.keys, runId))!;
    expect(bundle.outputs.receipt).toEqual({ paid: 10 });
    expect(bundle.outputs.login).toEqual({ user: 'alice', token: 't-1' });
    const reusedEvents = (await eventsOf(client, runId)).filter((e) => e.type === 'step.reused');
    expect(reusedEvents.map((e) => [e.stepId, e.data.from])).toEqual(expect.arrayContaining([['login', failed], ['cart', failed], ['audit', failed]]));
    expect((await eventsOf(client, runId)).filter((e) => e.type === 'step.started').map((e) => e.stepId)).toEqual(['pay', 'receipt']);
  });

  it('runs a changed step again, and everything downstream of it', async () => {
    const { runId: failed } = await failedRun();
    const changed = journey(true);
    changed.steps[1] = { ...changed.steps[1], with: { items: 4 } };
    const plan = (await planResume(client.redis, client.keys, failed, changed))!;
    expect([...plan.reused.keys()].sort()).toEqual(['audit', 'login']);
    expect(plan.rerun.map((r) => [r.stepId, r.why])).toEqual([
      ['cart', 'definition changed'],
      ['pay', 'was failed'],
      ['receipt', 'was skipped'],
    ]);
  });
});

describe('CLI: run --bundle-dir, bundle, run --resume', () => {
  it('writes a bundle for a failed run, prints one on demand, and resumes from it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sq-bundles-'));
    const file = join(dir, 'journey.yaml');
    const env = { ...process.env, REDIS_URL: t.url, SQ_PREFIX: t.prefix };
    const cli = (args: string[]) =>
      exec(process.execPath, ['bin/scenario-queue.js', ...args], { env, timeout: 60_000 }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    try {
      await writeFile(file, `name: cli-journey\nsteps:\n  - { id: a, uses: echo, with: { v: 1 } }\n  - { id: b, uses: fault, needs: [a], with: { kind: assertion, message: "no {{ steps.a.output.v }}" } }\n`);
      const first = await cli(['run', file, '--wait', '--json', '--bundle-dir', join(dir, 'out')]);
      expect(first.code).toBe(1);
      const runId = (JSON.parse(first.stdout) as { runId: string }).runId;
      expect(await readdir(join(dir, 'out'))).toEqual([`${runId}.bundle.json`]);
      expect(first.stderr).toContain(`bundle of ${runId} (failed)`);
      const written = JSON.parse(await readFile(join(dir, 'out', `${runId}.bundle.json`), 'utf8')) as FailureBundle;
      expect(written.attempts.b[0]).toMatchObject({ kind: 'assertion', message: 'no 1' });

      const printed = await cli(['bundle', runId]);
      expect(printed.code).toBe(0);
      expect((JSON.parse(printed.stdout) as FailureBundle).runId).toBe(runId);
      expect((await cli(['bundle', 'no-such-run'])).code).toBe(2);

      await writeFile(file, `name: cli-journey\nsteps:\n  - { id: a, uses: echo, with: { v: 1 } }\n  - { id: b, uses: echo, needs: [a], with: { v: "{{ steps.a.output.v }}" } }\n`);
      const resumed = await cli(['run', file, '--resume', runId, '--wait', '--json']);
      expect(resumed.code).toBe(0);
      expect(resumed.stderr).toContain(`resuming ${runId}: reusing 1 step (a); running 1 again: b (was failed)`);
      expect((JSON.parse(resumed.stdout) as { steps: { id: string; status: string }[] }).steps.map((s) => s.status)).toEqual(['reused', 'succeeded']);
      expect((await cli(['run', file, '--resume', 'no-such-run'])).code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
