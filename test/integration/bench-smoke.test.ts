/**
 * `npm run bench -- --quick` runs end to end and prints one JSON document with every item.
 * Nothing here is about speed: figures from tiny sizes on a shared machine mean nothing.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

describe('npm run bench', () => {
  const t = useTestRedis('bench-smoke');
  let dir: string;
  let stdout: string;
  let stderr: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sq-bench-'));
    const env = { ...process.env, REDIS_URL: t.url, npm_config_loglevel: 'silent' };
    ({ stdout, stderr } = await run('npm', ['run', 'bench', '--', '--quick', '--out', join(dir, 'latest.md')], { cwd: REPO_ROOT, env, timeout: 120_000, maxBuffer: 16 * 2 ** 20 }));
  }, 150_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints exactly one JSON document on stdout, progress on stderr', () => {
    expect(() => JSON.parse(stdout)).not.toThrow();
    expect(stderr).toMatch(/\[bench\] throughput round 1\/1/);
  });

  it('reports every item of issue #7 with its figures, and the goals', () => {
    const doc = JSON.parse(stdout);
    expect(doc).toMatchObject({ schema: 'scenario-queue-bench/1', options: { quick: true }, redis: { owned: false } });
    expect(Object.keys(doc.machine)).toEqual(expect.arrayContaining(['nproc', 'cpuModel', 'node', 'redis', 'bullmq']));
    const r = doc.results;
    expect(Object.keys(r).sort()).toEqual(['fanout', 'guardrails', 'handoff', 'memory', 'redisCost', 'throughput']);
    expect(r.throughput).toMatchObject({ raw: { stepsPerSec: expect.any(Number) }, scenarioQueue: { stepsPerSec: expect.any(Number) }, ratio: expect.any(Number), pairedRatio: expect.any(Number), cpuPerStepRatio: expect.any(Number) });
    expect(doc.goals.find((g: { item: string }) => g.item === 'throughput').value).toBe(r.throughput.pairedRatio);
    if (process.platform === 'linux') {
      // The whole machine during each timed window, from /proc/stat: shares in %, each within
      // 0–100. A window shorter than the kernel's tick (10 ms) can have no reading.
      const read = [r.throughput.raw, r.throughput.scenarioQueue].flatMap((side) => side.rounds).filter((x) => x.machineIdlePercent !== undefined);
      expect(read.length).toBeGreaterThan(0);
      for (const round of read) {
        expect(round.machineStolenPercent).toBeGreaterThanOrEqual(0);
        expect(round.machineIdlePercent).toBeGreaterThanOrEqual(0);
        expect(round.machineStolenPercent + round.machineIdlePercent).toBeLessThanOrEqual(100);
      }
      // The worker's main thread alone (/proc/self/task/<pid>/schedstat), a part of its process's CPU.
      for (const side of [r.throughput.raw, r.throughput.scenarioQueue]) expect(side.workerMainCpuUsPerStep).toBeGreaterThan(0);
    }
    for (const side of [r.handoff.raw, r.handoff.scenarioQueue]) expect(side).toMatchObject({ p50Ms: expect.any(Number), p95Ms: expect.any(Number), p99Ms: expect.any(Number) });
    for (const shape of ['raw', 'sq', 'raw-chain', 'sq-chain']) {
      expect(r.redisCost.shapes[shape].total).toMatchObject({ commands: expect.any(Number), luaCalls: expect.any(Number), clientCommands: expect.any(Number) });
    }
    expect(r.fanout).toMatchObject({ independent: { ms: expect.any(Number) }, diamond: { ms: expect.any(Number) }, ratio: expect.any(Number) });
    expect(r.guardrails).toMatchObject({ plain: { stepsPerSec: expect.any(Number) }, guarded: { stepsPerSec: expect.any(Number) }, ratio: expect.any(Number) });
    expect(r.memory.readings).toHaveLength(2);
    expect(r.memory.rssGrowthMiB).toEqual(expect.any(Number));
    expect(doc.goals.map((g: { item: string }) => g.item).sort()).toEqual(['fanout', 'guardrails', 'handoff', 'handoff', 'memory', 'throughput']);
  });

  it('writes the Markdown table to --out', async () => {
    const md = await readFile(join(dir, 'latest.md'), 'utf8');
    expect(md).toContain('| item | metric | baseline | scenario-queue | ratio |');
    expect(md).toContain('| goal | value | target | met |');
  });

  it('with --warmup, each side drains that many first in the same worker, untimed', async () => {
    const env = { ...process.env, REDIS_URL: t.url, npm_config_loglevel: 'silent' };
    const { stdout: out } = await run('npm', ['run', 'bench', '--', '--quick', '--only', 'throughput', '--warmup', '40', '--out', join(dir, 'warm.md')], { cwd: REPO_ROOT, env, timeout: 120_000 });
    const r = JSON.parse(out).results.throughput;
    // drain() times the units done after the warm-up's (the child's count before the resume).
    expect(r.config).toMatchObject({ steps: 200, warmup: 40 });
    for (const side of [r.raw, r.scenarioQueue]) expect(side.rounds).toHaveLength(1);
  }, 150_000);

  it('with --baseline-tree, item 4 runs both shapes on the other checkout too, alternated, and reports them apart', async () => {
    // The repository itself as the other checkout: what is checked is that both sides ran.
    const env = { ...process.env, REDIS_URL: t.url, npm_config_loglevel: 'silent' };
    const { stdout: out, stderr } = await run('npm', ['run', 'bench', '--', '--quick', '--only', 'fanout', '--baseline-tree', REPO_ROOT, '--out', join(dir, 'fanout-baseline.md')], { cwd: REPO_ROOT, env, timeout: 120_000 });
    const r = JSON.parse(out).results.fanout;
    for (const side of [r, r.baseline]) {
      expect(side).toMatchObject({ independent: { ms: expect.any(Number) }, diamond: { ms: expect.any(Number) }, ratio: expect.any(Number) });
      for (const shape of ['independent', 'diamond']) expect(side[shape].rounds).toHaveLength(3);
    }
    expect(r.baseline.tree).toBe(REPO_ROOT);
    expect(stderr).toMatch(/fanout round 1\/3 diamond \(baseline\)/);
    expect(await readFile(join(dir, 'fanout-baseline.md'), 'utf8')).toContain(`--baseline-tree ${REPO_ROOT}: independent vs diamond`);
  }, 150_000);

  it('bench/timeline: the preload records the socket timeline of each worker child, and the report reads it', async () => {
    const timelines = join(dir, 'timelines');
    const record = pathToFileURL(join(REPO_ROOT, 'bench/timeline/record.mjs')).href;
    const env = { ...process.env, REDIS_URL: t.url, npm_config_loglevel: 'silent', BENCH_TIMELINE_DIR: timelines, BENCH_CHILD_NODE_ARGS: `--import=${record}` };
    await run('npm', ['run', 'bench', '--', '--quick', '--only', 'throughput', '--out', join(dir, 'timeline.md')], { cwd: REPO_ROOT, env, timeout: 120_000 });
    const { stdout: out } = await run('npm', ['run', '-s', 'bench:timeline', '--', timelines], { cwd: REPO_ROOT, timeout: 60_000 });
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    // One worker child per side and round (--quick: 1 round, 200 steps, concurrency 8).
    expect(lines.map((l) => l.side).sort()).toEqual(['raw', 'sq']);
    for (const line of lines) {
      expect(line).toMatchObject({ dropped: 0, commandsPerMs: expect.any(Number) });
      expect(line.writes).toBeGreaterThanOrEqual(200);
      expect(line.commandsPerMs).toBeGreaterThan(0);
      // Every command's reply came after it, and never more than the 8 slots (and a
      // bookkeeping command or two) were at Redis at once.
      expect(line.repliesBeforeTheirCommands).toBeUndefined();
      for (const inFlight of Object.keys(line.commandsAtRedis).map(Number)) expect(inFlight).toBeLessThanOrEqual(10);
      // A reply for each command of the window, give or take those in flight at its edges.
      const replies = Object.entries(line.repliesPerRead as Record<string, number>).reduce((sum, [k, reads]) => sum + Number(k) * reads, 0);
      expect(line.windowCommands).toBeGreaterThan(100);
      expect(Math.abs(replies - line.windowCommands)).toBeLessThanOrEqual(10);
      expect(Object.keys(line.writesAfterRead).length).toBeGreaterThan(0);
    }
  }, 200_000);

  it('bench/timeline: a directory with no timelines is an error that names it, exit 2', async () => {
    const empty = join(dir, 'no-timelines');
    await mkdir(empty);
    const failed = await run('npm', ['run', '-s', 'bench:timeline', '--', empty], { cwd: REPO_ROOT, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringContaining(`${empty}: no timelines`) });
  }, 90_000);

  it('bench:raw-crosscheck, the plain BullMQ script the raw side is checked against, drains its jobs in a process per round', async () => {
    const env = { ...process.env, REDIS_URL: t.url, BULL_PREFIX: t.prefix };
    const { stdout: out } = await run('node', ['bench/raw-crosscheck.mjs', '50', '2', '2'], { cwd: REPO_ROOT, env, timeout: 60_000 });
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.slice(0, 2)).toEqual([
      { round: 1, jobs: 50, concurrency: 2, jobsPerSec: expect.any(Number) },
      { round: 2, jobs: 50, concurrency: 2, jobsPerSec: expect.any(Number) },
    ]);
    // The bench's median: the mean of the middle two.
    expect(lines[2]).toEqual({ medianJobsPerSec: Math.round((lines[0].jobsPerSec + lines[1].jobsPerSec) / 2) });
    // Each round obliterated its queue.
    expect(await t.redis.keys(`${t.prefix}:*`)).toEqual([]);
  }, 90_000);

  it('npm run bench and bench:redis-instructions: a bad flag or variable is exit 2 with a message naming it, no stack trace', async () => {
    const bench = await run('npm', ['run', '-s', 'bench', '--', '--rounds', 'x'], { cwd: REPO_ROOT, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(bench).toMatchObject({ code: 2, stderr: expect.stringContaining('[bench] failed: rounds: ') });
    const env = { ...process.env, BENCH_CHILD_NODE_ARGS: '["--cpu-prof", 1]' };
    const childArgs = await run('npm', ['run', '-s', 'bench', '--', '--quick'], { cwd: REPO_ROOT, env, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(childArgs).toMatchObject({ code: 2, stderr: expect.stringContaining('BENCH_CHILD_NODE_ARGS: starts with "["') });
    const instructions = await run('npm', ['run', '-s', 'bench:redis-instructions', '--', '--bogus'], { cwd: REPO_ROOT, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(instructions).toMatchObject({ code: 2, stderr: expect.stringContaining("Unknown option '--bogus'") });
    const perRun = await run('npm', ['run', '-s', 'bench:redis-instructions', '--', '--steps-per-run', '0'], { cwd: REPO_ROOT, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(perRun).toMatchObject({ code: 2, stderr: expect.stringContaining('--steps-per-run must be an integer from 1 to 1000, got 0') });
    for (const failed of [bench, childArgs, instructions, perRun]) expect((failed as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  }, 90_000);

  it('bench:raw-crosscheck: a REDIS_URL that is not a redis:// URL is an error that names it, exit 2', async () => {
    const env = { ...process.env, REDIS_URL: '127.0.0.1:6379' };
    const failed = await run('node', ['bench/raw-crosscheck.mjs', '50', '2', '1'], { cwd: REPO_ROOT, env, timeout: 30_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringContaining('REDIS_URL must be a redis:// or rediss:// URL') });
  }, 60_000);
});
