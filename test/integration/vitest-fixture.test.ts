/**
 * SPEC §19: `scenario-queue/vitest`. The example in examples/vitest runs in a nested vitest,
 * as a user's CI would run it, and we read what its reporters get: skip notes, annotations
 * and task meta.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScenarioRunMeta } from '../../src/vitest/index.ts';
import { useTestRedis } from '../support/context.ts';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const t = useTestRedis('vitest-fixture');
let llm: FakeLlm;
let dir: string;

beforeAll(async () => {
  llm = await startFakeLlm();
  dir = await mkdtemp(join(tmpdir(), 'sqt-vitest-'));
});
afterAll(async () => {
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

interface NestedTest {
  name: string;
  state: 'passed' | 'failed' | 'skipped' | 'pending';
  note?: string;
  errors: string[];
  annotations: { type: string; message: string }[];
  meta: { scenarioQueue?: { runs: ScenarioRunMeta[] } };
}

/** Runs examples/vitest with `env` on top of a clean environment (no OPENAI_*, no SQ_*). */
async function runExample(env: Record<string, string>): Promise<Record<string, NestedTest>> {
  const out = join(dir, `result-${Date.now()}.json`);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SQ_') && !k.startsWith('OPENAI_') && k !== 'REDIS_URL'));
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'test/fixtures/vitest/run-nested.mjs'), 'examples/vitest/vitest.config.ts', out],
      { cwd: REPO_ROOT, env: { ...base, SQ_TEST_REDIS_URL: t.url, SQ_TEST_PREFIX: t.prefix, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`nested vitest failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve()),
    ),
  );
  const tests = JSON.parse(await readFile(out, 'utf8')) as NestedTest[];
  return Object.fromEntries(tests.map((test) => [test.name, test]));
}

describe('scenario-queue/vitest', () => {
  it('skips a live test whose credential is missing, naming it; the mocked test still runs', async () => {
    const tests = await runExample({});
    const live = tests['answers a refund question'];
    expect(live).toMatchObject({ state: 'skipped', note: 'missing credentials: OPENAI_API_KEY' });
    expect(live.meta.scenarioQueue).toBeUndefined();
    expect(llm.requests).toHaveLength(0);

    const mocked = tests['the journey holds together without calling anyone'];
    expect(mocked.errors).toEqual([]);
    expect(mocked.state).toBe('passed');
    const [run] = mocked.meta.scenarioQueue?.runs ?? [];
    expect(run).toMatchObject({ scenario: 'support-bot', status: 'succeeded', mode: 'mock', retries: 0, failedSteps: [] });
    expect(run.cost).toMatchObject({ usd: expect.any(Number), calls: expect.any(Number) });
    expect(mocked.annotations).toEqual([{ type: 'scenario-queue', message: expect.stringMatching(/^support-bot succeeded in [\d.]+s \(mock\) · .* · 0 retries · run support-bot-/) }]);
  }, 90_000);

  it('runs live when the credential is there, and attaches cost and retries to the test', async () => {
    llm.failNext(1, 503);
    const tests = await runExample({ OPENAI_API_KEY: 'sk-test-vitest', OPENAI_BASE_URL: llm.url });
    const live = tests['answers a refund question'];
    expect(live.errors).toEqual([]);
    expect(live.state).toBe('passed');
    const [run] = live.meta.scenarioQueue?.runs ?? [];
    expect(run).toMatchObject({ scenario: 'support-bot', status: 'succeeded', mode: 'live', retries: 1, failedSteps: [] });
    expect(live.annotations[0].message).toMatch(/^support-bot succeeded in [\d.]+s \(live\) · .* · 1 retry · run /);
    // Both attempts reached the endpoint with the declared secret; the mocked test made no call.
    expect(llm.requests).toHaveLength(2);
    expect(llm.requests.every((r) => r.authorization === 'Bearer sk-test-vitest')).toBe(true);
  }, 90_000);

  it('lets SQ_TEST_MODE=mock turn a live test into a mocked one (pull-request runs)', async () => {
    const tests = await runExample({ SQ_TEST_MODE: 'mock' });
    const live = tests['answers a refund question'];
    expect(live.state).toBe('passed');
    expect(live.meta.scenarioQueue?.runs[0]).toMatchObject({ mode: 'mock', status: 'succeeded' });
  }, 90_000);
});
