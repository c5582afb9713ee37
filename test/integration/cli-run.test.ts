import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScenarioEvent } from '../../src/engine/types.ts';
import { useTestRedis } from '../support/context.ts';
import { hasStackTrace, runCli, tempFiles } from '../support/cli.ts';
import { eventually, startEngine, waitForEvent, within, type Engine } from '../support/engine.ts';

// Workers run in this process; the CLI under test runs as a child, as CI would run it.
const t = useTestRedis('cli-run', { scope: 'file' });
let engine: Engine;
let files: ReturnType<typeof tempFiles>;
const env = () => ({ REDIS_URL: t.url, SQ_PREFIX: t.prefix });
const cli = (...args: string[]) => runCli(args, { env: env() });

beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 2, concurrency: 4 });
  files = tempFiles({
    'ok.yaml': `
name: cli-ok
steps:
  - { id: hello, uses: echo, with: { msg: hi } }
  - { id: flaky, uses: fault, needs: [hello], retry: { attempts: 2, backoff: { type: fixed, delayMs: 20, jitter: none } }, with: { failTimes: 1, kind: server_error, message: "HTTP 503" } }
`,
    'bad.yaml': `
name: cli-bad
steps:
  - { id: ok, uses: noop }
  - { id: check, uses: fault, needs: [ok], retry: { attempts: 3 }, with: { kind: assertion, message: "total was 3, expected 4" } }
  - { id: after, uses: noop, needs: [check] }
`,
    'inputs.yaml': `
name: cli-inputs
input: { n: 1, user: alice }
steps:
  - { id: check, uses: assert, with: { that: "input.n + 1 == 5 && input.user == 'bob' && input.nested.flag == true" } }
`,
    'inputs.json': JSON.stringify({ user: 'bob', nested: { flag: true } }),
    'long.yaml': `
name: cli-long
steps:
  - { id: nap, uses: sleep, timeoutMs: 120000, with: { ms: 60000 } }
`,
    'invalid.yaml': `
name: cli-invalid
steps:
  - { id: a, uses: noop, needs: [nope] }
`,
  });
});
afterAll(() => engine?.close());

/** The keys of SPEC §15, in its order, on a run summary printed by --json. */
function expectSpecShape(summary: Record<string, unknown>): void {
  expect(Object.keys(summary).slice(0, 8)).toEqual(['runId', 'scenario', 'status', 'startedAt', 'finishedAt', 'durationMs', 'cost', 'steps']);
  expect(summary.cost).toEqual({ usd: 0, tokens: { input: 0, output: 0 }, calls: 0 });
  for (const step of summary.steps as Record<string, unknown>[]) {
    expect(Object.keys(step).slice(0, 3)).toEqual(['id', 'status', 'attempts']);
    expect(Array.isArray(step.errors)).toBe(true);
  }
}

describe('scenario-queue run --wait --json (SPEC §15)', () => {
  it('exit 0 on success, with only the §15 JSON on stdout and progress on stderr', async () => {
    const result = await cli('run', files.path('ok.yaml'), '--wait', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expectSpecShape(summary);
    expect(summary).toMatchObject({
      scenario: 'cli-ok',
      status: 'succeeded',
      steps: [
        { id: 'hello', status: 'succeeded', attempts: 1, errors: [] },
        { id: 'flaky', status: 'succeeded', attempts: 2, errors: [{ attempt: 1, kind: 'server_error', message: 'HTTP 503', retryDelayMs: 20 }] },
      ],
    });
    expect(result.stderr).toContain(summary.runId as string);
    expect(result.stderr).toContain('flaky');
  });

  it('exit 1 when the run does not succeed; the JSON names the failing step and error; --junit writes the report', async () => {
    const junit = join(files.dir, 'reports', 'bad.xml');
    const result = await cli('run', files.path('bad.yaml'), '--wait', '--json', '--junit', junit);
    expect(result.code, result.stderr).toBe(1);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuite [^>]*name="cli-bad"/);
    expect(xml.match(/<testcase /g)).toHaveLength(3);
    expect(xml).toContain('total was 3, expected 4');
    expect(xml).toMatch(/<failure/);
    expect(xml).toMatch(/<skipped/);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expectSpecShape(summary);
    expect(summary).toMatchObject({
      status: 'failed',
      steps: [
        { id: 'ok', status: 'succeeded' },
        { id: 'check', status: 'failed', attempts: 1, errors: [{ attempt: 1, kind: 'assertion', message: 'total was 3, expected 4' }] },
        { id: 'after', status: 'skipped', attempts: 0, reason: 'upstream_failed' },
      ],
    });
  });

  it('--input k=v (JSON values) and --input-file override the scenario input', async () => {
    const [both, defaults] = await Promise.all([
      cli('run', files.path('inputs.yaml'), '--input', 'n=4', '--input-file', files.path('inputs.json'), '--wait', '--json'),
      cli('run', files.path('inputs.yaml'), '--wait', '--json'),
    ]);
    expect(both.code, both.stdout + both.stderr).toBe(0);
    expect(JSON.parse(both.stdout).status).toBe('succeeded');
    expect(defaults.code).toBe(1);
  });

  it('--timeout overrides the run timeout: the run ends timed_out, exit 1', async () => {
    const result = await cli('run', files.path('long.yaml'), '--timeout', '700', '--wait', '--json');
    expect(result.code, result.stderr).toBe(1);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ status: 'timed_out', reason: 'run timed out after 700ms (run timeoutMs)', steps: [{ id: 'nap', status: 'timed_out' }] });
  });

  it('several files form one suite; JSON lists every run and the exit code is the worst', async () => {
    const result = await cli('run', files.path('ok.yaml'), files.path('bad.yaml'), '--wait', '--json');
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as { suite: string; runs: Record<string, unknown>[] };
    expect(report.runs.map((r) => [r.scenario, r.status])).toEqual([['cli-ok', 'succeeded'], ['cli-bad', 'failed']]);
    for (const run of report.runs) expectSpecShape(run);
    expect(report.runs.every((r) => r.suite === report.suite)).toBe(true);
  });

  it('an invalid scenario is exit 2 naming the path, and nothing is enqueued', async () => {
    const before = await t.redis.zcard(engine.client.keys.runsIndex);
    const result = await cli('run', files.path('invalid.yaml'), files.path('ok.yaml'), '--wait');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('steps[0].needs[0]: unknown step "nope"');
    expect(hasStackTrace(result.stderr)).toBe(false);
    expect(result.stdout).toBe('');
    expect(await t.redis.zcard(engine.client.keys.runsIndex)).toBe(before);
  });
});

describe('scenario-queue status / events / cancel (SPEC §15)', () => {
  it('run without --wait prints the run id; status --json and events show the run', async () => {
    const enqueued = await cli('run', files.path('ok.yaml'), '--json');
    expect(enqueued.code, enqueued.stderr).toBe(0);
    const { runId } = JSON.parse(enqueued.stdout) as { runId: string };
    expect(runId).toMatch(/^cli-ok-/);
    await within(engine.client.wait(runId), 20_000, 'enqueued run');

    const [status, events, eventsJson] = await Promise.all([cli('status', runId, '--json'), cli('events', runId), cli('events', runId, '--json')]);
    expect(status.code, status.stderr).toBe(0);
    const summary = JSON.parse(status.stdout);
    expectSpecShape(summary);
    expect(summary).toMatchObject({ runId, status: 'succeeded' });

    expect(events.code, events.stderr).toBe(0);
    expect(events.stdout).toContain('run.succeeded');
    const parsed = eventsJson.stdout.trim().split('\n').map((line) => JSON.parse(line) as ScenarioEvent);
    expect(parsed[0].type).toBe('run.queued');
    expect(parsed.at(-1)?.type).toBe('run.succeeded');
    expect(parsed.filter((e) => e.stepId === 'flaky').map((e) => e.type)).toEqual([
      'step.queued', 'step.started', 'step.retrying', 'step.started', 'step.succeeded',
    ]);
  });

  it('status of a failed run exits 1; of an unknown run exits 2 naming it', async () => {
    const failed = await engine.run(engine.scenario(`
name: status-failed
steps:
  - { id: x, uses: fault, with: { kind: client_error } }
`));
    const [status, unknown] = await Promise.all([cli('status', failed.runId, '--json'), cli('status', 'no-such-run')]);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout).status).toBe('failed');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no-such-run');
  });

  it('cancel stops a running run; cancelling again says it is over', async () => {
    const enqueued = await cli('run', files.path('long.yaml'), '--json');
    const { runId } = JSON.parse(enqueued.stdout) as { runId: string };
    await waitForEvent(engine.client, runId, (e) => e.type === 'step.started');
    // A follower attached while the run is still going must see it end.
    let attached: () => void = () => {};
    const streaming = new Promise<void>((resolve) => (attached = resolve));
    const following = runCli(['events', runId, '--follow', '--json'], {
      env: env(),
      onStdout: (soFar) => soFar.includes('"step.started"') && attached(),
    });
    await within(streaming, 15_000, 'events --follow attached');
    const cancel = await cli('cancel', runId);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(runId);
    const summary = await within(engine.client.wait(runId), 10_000, 'cancelled run');
    expect(summary.status).toBe('cancelled');
    expect(summary.steps[0].status).toBe('cancelled');
    await eventually(() => engine.workers.every((w) => w.inflight === 0), 5_000, 'sleep aborted');

    const followed = await within(following, 15_000, 'events --follow');
    expect(followed.code, followed.stderr).toBe(0);
    const types = followed.stdout.trim().split('\n').map((line) => (JSON.parse(line) as ScenarioEvent).type);
    expect(types[0]).toBe('run.queued');
    expect(types.at(-1)).toBe('run.cancelled');

    const again = await cli('cancel', runId);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already cancelled');
  });
});

describe('scenario-queue errors: infrastructure and configuration (SPEC §15, §18)', () => {
  it('Redis unreachable: exit 3 naming the URL, no stack trace', async () => {
    const url = 'redis://127.0.0.1:1';
    const [run, status] = await Promise.all([
      runCli(['run', files.path('ok.yaml'), '--wait', '--json'], { env: { REDIS_URL: url } }),
      runCli(['status', 'some-run'], { env: { REDIS_URL: url } }),
    ]);
    for (const result of [run, status]) {
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toContain(url);
      expect(hasStackTrace(result.stderr)).toBe(false);
      expect(result.stdout).toBe('');
    }
  });

  it('a bad environment variable is exit 2 naming it', async () => {
    const [concurrency, redisUrl] = await Promise.all([
      runCli(['worker'], { env: { REDIS_URL: t.url, SQ_PREFIX: t.prefix, SQ_CONCURRENCY: 'abc' } }),
      runCli(['run', files.path('ok.yaml')], { env: { REDIS_URL: 'http://localhost:6379' } }),
    ]);
    expect(concurrency.code).toBe(2);
    expect(concurrency.stderr).toContain('SQ_CONCURRENCY');
    expect(redisUrl.code).toBe(2);
    expect(redisUrl.stderr).toContain('REDIS_URL');
    for (const result of [concurrency, redisUrl]) expect(hasStackTrace(result.stderr)).toBe(false);
  });

  it('bad usage is exit 2', async () => {
    const [flag, command, timeout] = await Promise.all([
      cli('run', files.path('ok.yaml'), '--bogus'),
      cli('frobnicate'),
      cli('run', files.path('ok.yaml'), '--timeout', 'soon'),
    ]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--bogus');
    expect(command.code).toBe(2);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('--timeout');
  });
});
