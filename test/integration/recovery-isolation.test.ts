import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { createWorker, type ScenarioWorker } from '../../src/worker/worker.ts';
import { buildBundle } from '../../src/engine/bundle.ts';
import { spin, partial } from '../fixtures/handlers/recovery.ts';
import { useTestRedis } from '../support/context.ts';
import { cleanupPrefix } from '../support/redis.ts';
import { parseTestScenario, silentLogger, within } from '../support/engine.ts';

const t = useTestRedis('recovery-isolation', { scope: 'file' });
const handlers = [spin, partial];
let client: ScenarioClient;
let worker: ScenarioWorker;

beforeAll(async () => {
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  worker = await createWorker({
    redisUrl: t.url,
    prefix: t.prefix,
    logger: silentLogger,
    concurrency: 4,
    handlers,
    handlersModule: 'test/fixtures/handlers/recovery.ts',
    shutdownGraceMs: 1_000,
  });
});
afterAll(async () => {
  await worker?.close();
  await client?.close();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('isolation: process (SPEC §6)', () => {
  it('kills a handler that ignores its signal at the deadline; the attempt is timed_out and follows the retry policy', async () => {
    const def = parseTestScenario(`
name: hang
steps:
  - id: hang
    uses: fault
    isolation: process
    timeoutMs: 1500
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 10, jitter: none } }
    with: { hangMs: 600000, ignoreAbort: true }
`);
    const { runId } = await client.enqueue(def);
    const summary = await within(client.wait(runId), 30_000, 'hang run');
    expect(summary.status).toBe('failed');
    expect(summary.steps[0]).toMatchObject({ status: 'timed_out', attempts: 2 });
    expect(summary.steps[0].errors.map((e) => [e.attempt, e.kind, e.message])).toEqual([
      [1, 'timeout', 'attempt timed out after 1500ms (timeoutMs)'],
      [2, 'timeout', 'attempt timed out after 1500ms (timeoutMs)'],
    ]);
  });

  it('kills a handler that blocks its event loop, while the worker keeps running other steps; the retry succeeds', async () => {
    const def = parseTestScenario(
      `
name: spin
steps:
  - id: spin
    uses: spin
    isolation: process
    timeoutMs: 3000
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 10, jitter: none } }
    with: { ms: 600000, spinTimes: 1 }
  - { id: beside, uses: sleep, with: { ms: 200 } }
`,
      handlers,
    );
    const started = Date.now();
    const { runId } = await client.enqueue(def);
    const summary = await within(client.wait(runId), 30_000, 'spin run');
    expect(summary.status).toBe('succeeded');
    const [spinStep, beside] = summary.steps;
    expect(spinStep).toMatchObject({ status: 'succeeded', attempts: 2, errors: [expect.objectContaining({ attempt: 1, kind: 'timeout' })] });
    // The inline step beside it was not held up by the spinning handler.
    expect(Date.parse(beside.finishedAt!) - started).toBeLessThan(2_500);
    // The spinning process is gone; the successful attempt ran in another one.
    const bundle = await buildBundle(client.redis, client.keys, runId);
    const pids = bundle!.checkpoints.spin.map((c) => (c.data as { pid: number }).pid);
    expect(pids).toHaveLength(2);
    expect(pids[0]).not.toBe(pids[1]);
    expect(pids.some((pid) => pid === process.pid)).toBe(false);
    expect(alive(pids[0])).toBe(false);
    expect(bundle!.outputs.spin).toEqual({ pid: pids[1], attempt: 2 });
  });

  it('gives the child the whole ctx: logs, checkpoints, artifacts and usage reach the parent', async () => {
    const def = parseTestScenario(
      `
name: partial-child
steps:
  - { id: p, uses: partial, isolation: process, with: { kind: assertion } }
`,
      handlers,
    );
    const { runId } = await client.enqueue(def);
    const summary = await within(client.wait(runId), 30_000, 'partial run');
    expect(summary.steps[0]).toMatchObject({ status: 'failed', errors: [expect.objectContaining({ kind: 'assertion', message: 'partial failed after 3 of 10 (attempt 1)' })] });
    const bundle = await buildBundle(client.redis, client.keys, runId);
    expect(bundle!.checkpoints.p[0]).toMatchObject({ attempt: 1, data: { done: 3, of: 10, attempt: 1 } });
    expect(bundle!.artifacts).toEqual([expect.objectContaining({ name: 'trace.txt', stepId: 'p', attempt: 1, size: 16, storage: 'redis' })]);
    const lines = bundle!.logs.p[0].lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.msg)).toEqual(['partial work started', 'partial work stopped']);
    expect(lines[0]).toMatchObject({ runId, stepId: 'p', attempt: 1, isolated: true });
    expect(lines[0].pid).not.toBe(process.pid);
  });

  it('a custom handler needs the handler module to run isolated, and says so', async () => {
    const bare = await createWorker({ redisUrl: t.url, prefix: `${t.prefix}-bare`, logger: silentLogger, handlers, shutdownGraceMs: 500 });
    const bareClient = await createClient({ redisUrl: t.url, prefix: `${t.prefix}-bare` });
    try {
      const def = parseTestScenario(`name: no-module\nsteps:\n  - { id: s, uses: spin, isolation: process, with: { ms: 1 } }\n`, handlers);
      const { runId } = await bareClient.enqueue(def);
      const summary = await within(bareClient.wait(runId), 30_000, 'no-module run');
      expect(summary.steps[0].errors[0]).toMatchObject({ kind: 'invalid_input' });
      expect(summary.steps[0].errors[0].message).toMatch(/unknown handler "spin" in the isolated process: .*--handlers/);
    } finally {
      await bare.close();
      await bareClient.close();
      await cleanupPrefix(t.url, `${t.prefix}-bare`);
    }
  });
});
