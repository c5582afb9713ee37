/**
 * SPEC §18: with a hash-tagged prefix, everything runs on a real 3-master Redis Cluster —
 * worker processes, the client, the CLI, the guardrails — and no command is ever refused
 * with CROSSSLOT.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { loadScenario, parseScenario } from '../../src/scenario/load.ts';
import { BUILTIN_HANDLERS } from '../../src/handlers/builtin/index.ts';
import type { RunSummary } from '../../src/engine/types.ts';
import { startRedisCluster, type OwnedRedisCluster } from '../support/redis-server.ts';
import { uniquePrefix } from '../support/redis.ts';
import { startWorkers, stopAllWorkers, type WorkerProcess } from '../support/workers.ts';
import { startHttpTarget, type HttpTarget } from '../support/http-target.ts';
import { within } from '../support/engine.ts';

const execFileAsync = promisify(execFile);
const REPO_ROOT = join(import.meta.dirname, '..', '..');
const known = BUILTIN_HANDLERS.map((h) => h.name);

let cluster: OwnedRedisCluster;
let url: string;
let workers: WorkerProcess[];
let client: ScenarioClient;
let target: HttpTarget;
const tag = uniquePrefix('cluster');
const prefix = `{${tag}}`;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  url = `redis+cluster://${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  target = await startHttpTarget();
  workers = await startWorkers(2, { redisUrl: url, prefix, concurrency: 4 });
  client = await createClient({ redisUrl: url, prefix });
}, 90_000);

afterAll(async () => {
  await client?.close();
  await stopAllWorkers();
  await target?.close();
  await cluster?.stop();
});

async function example(name: string): Promise<RunSummary> {
  const def = await loadScenario(join(REPO_ROOT, 'examples', `${name}.yaml`), { knownHandlers: known });
  const { runId } = await client.enqueue(def, { input: { baseUrl: target.url } });
  return within(client.wait(runId), 30_000, `${name} on the cluster`);
}

const stepStatuses = (summary: RunSummary) => Object.fromEntries(summary.steps.map((s) => [s.id, s.status]));

/** `errorstat_CROSSSLOT` of every node: Redis counts each refused command, whoever sent it. */
async function crossSlotErrors(): Promise<number> {
  let total = 0;
  for (const node of cluster.nodes) {
    const info = await execFileAsync('redis-cli', ['-h', node.host, '-p', String(node.port), 'INFO', 'errorstats']);
    total += Number(/errorstat_CROSSSLOT:count=(\d+)/.exec(info.stdout)?.[1] ?? 0);
  }
  return total;
}

describe('Redis Cluster (SPEC §18)', () => {
  it('runs the diamond: fan-out, fan-in, data between steps', async () => {
    const summary = await example('diamond');
    expect(summary.status).toBe('succeeded');
    expect(stepStatuses(summary)).toEqual({ fetch: 'succeeded', left: 'succeeded', right: 'succeeded', join: 'succeeded' });
  });

  it('retries a transient fault with backoff and succeeds', async () => {
    const summary = await example('retry-transient');
    expect(summary.status).toBe('succeeded');
    const flaky = summary.steps.find((s) => s.id === 'flaky-call');
    expect(flaky).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(flaky?.errors.map((e) => e.kind)).toEqual(['server_error', 'server_error']);
  });

  it('fails fast: cancels the running sibling, skips the rest, still runs the teardown', async () => {
    const summary = await example('fail-fast');
    expect(summary.status).toBe('failed');
    expect(stepStatuses(summary)).toEqual({ 'bad-request': 'failed', 'slow-sibling': 'cancelled', after: 'skipped', teardown: 'succeeded' });
  });

  it('enforces attempt and group timeouts (delayed deadline jobs on the cluster)', async () => {
    const summary = await example('timeouts');
    expect(summary.status).toBe('failed');
    expect(stepStatuses(summary)).toEqual({ 'slow-attempt': 'timed_out', 'slow-in-group': 'timed_out', quick: 'succeeded' });
    expect(summary.steps.find((s) => s.id === 'slow-attempt')?.attempts).toBe(2);
  });

  it('cancels a running run and publishes the abort to every worker', async () => {
    const def = parseScenario('name: cancel-me\nsteps:\n  - { id: long, uses: sleep, with: { ms: 20000 } }\n', { knownHandlers: known });
    const { runId } = await client.enqueue(def);
    await within(
      (async () => {
        while ((await client.status(runId))?.steps[0]?.status !== 'running') await new Promise((r) => setTimeout(r, 50));
      })(),
      10_000,
      'step start',
    );
    expect(await client.cancel(runId)).toBe(true);
    const summary = await within(client.wait(runId), 10_000, 'cancelled run');
    expect(summary.status).toBe('cancelled');
    const types: string[] = [];
    for await (const event of client.events(runId)) types.push(event.type);
    expect(types).toContain('run.cancelled');
  });

  it('runs from the CLI with REDIS_URL=redis+cluster://… and SQ_PREFIX={…}', async () => {
    const { stdout } = await execFileAsync(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'scenario-queue.js'), 'run', 'examples/diamond.yaml', '--wait', '--json', '--input', `baseUrl=${target.url}`],
      { cwd: REPO_ROOT, env: { ...process.env, REDIS_URL: url, SQ_PREFIX: prefix, GITHUB_ACTIONS: '' }, timeout: 40_000 },
    );
    const report = JSON.parse(stdout) as { status: string; scenario: string };
    expect(report).toMatchObject({ scenario: 'diamond', status: 'succeeded' });
  });

  it('runs the guardrails on the cluster: shared breaker, run budget, credential gate, kill switch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqt-cluster-'));
    const cli = (...args: string[]) =>
      execFileAsync(process.execPath, [join(REPO_ROOT, 'bin', 'scenario-queue.js'), ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, REDIS_URL: url, SQ_PREFIX: prefix, GITHUB_ACTIONS: '' },
        timeout: 30_000,
      });
    try {
      const services = join(dir, 'services.yaml');
      await writeFile(services, 'services:\n  payments:\n    maxConcurrency: 2\n    rateLimit: { max: 50, perMs: 1000 }\n    circuitBreaker: { failureThreshold: 2, windowMs: 60000, resetTimeoutMs: 600000, whenOpen: fail }\n');
      await cli('services', 'apply', services);

      const guarded = parseScenario(
        `
name: cluster-guardrails
budget: { calls: 2, onExceed: fail }
steps:
  - { id: fail-1, uses: fault, service: payments, with: { kind: server_error } }
  - { id: fail-2, uses: fault, service: payments, needs: [fail-1], if: "true", with: { kind: server_error } }
  - { id: refused, uses: noop, service: payments, needs: [fail-2], if: "true" }
  - { id: spend-1, uses: http, needs: [refused], if: "true", with: { url: "{{ input.baseUrl }}/json" } }
  - { id: spend-2, uses: http, needs: [spend-1], with: { url: "{{ input.baseUrl }}/json" } }
  - { id: over-budget, uses: http, needs: [spend-2], with: { url: "{{ input.baseUrl }}/json" } }
  - { id: gated, uses: noop, credentials: [SQ_CLUSTER_TEST_NEVER_SET], needs: [over-budget], if: "true" }
`,
        { knownHandlers: known },
      );
      const { runId } = await client.enqueue(guarded, { input: { baseUrl: target.url } });
      const summary = await within(client.wait(runId), 30_000, 'guarded run');
      const step = (id: string) => summary.steps.find((s) => s.id === id);
      expect(step('fail-2')?.errors.map((e) => e.kind)).toEqual(['server_error']);
      expect(step('refused')?.errors.map((e) => e.kind)).toEqual(['circuit_open']);
      expect(step('spend-2')?.status).toBe('succeeded');
      expect(step('over-budget')?.errors.map((e) => e.kind)).toEqual(['budget_exceeded']);
      expect(summary.cost.calls).toBe(2);
      expect(step('gated')).toMatchObject({ status: 'skipped' });
      expect(step('gated')?.reason).toMatch(/credentials_missing|SQ_CLUSTER_TEST_NEVER_SET/);
      expect((await cli('services', 'status', 'payments', '--json')).stdout).toMatch(/"open"/);

      await cli('halt', '--reason', 'cluster maintenance');
      await expect(client.enqueue(parseScenario('name: while-halted\nsteps:\n  - { id: a, uses: noop }\n', { knownHandlers: known }))).rejects.toThrow(/cluster maintenance/);
      await cli('unhalt');
      const after = await client.enqueue(parseScenario('name: after-unhalt\nsteps:\n  - { id: a, uses: noop }\n', { knownHandlers: known }));
      expect((await within(client.wait(after.runId), 15_000, 'run after unhalt')).status).toBe('succeeded');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('puts every key of the engine and of BullMQ in the slot of the prefix', async () => {
    const seeds = cluster.nodes.map((n) => ({ host: n.host, port: n.port }));
    const admin = new Cluster(seeds);
    try {
      const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', prefix));
      // Slot commands answer for the node they are sent to: ask every master.
      let everywhere = 0;
      const inSlot: string[] = [];
      for (const node of admin.nodes('master')) {
        everywhere += await node.dbsize();
        inSlot.push(...((await node.call('CLUSTER', 'GETKEYSINSLOT', slot, 100_000)) as string[]));
      }
      expect(inSlot.length).toBeGreaterThan(0);
      expect(everywhere).toBe(inSlot.length);
      expect(inSlot.some((k) => k.startsWith(`${prefix}:steps:`))).toBe(true);
      expect(inSlot.some((k) => k.startsWith(`${prefix}:run:`))).toBe(true);
    } finally {
      admin.disconnect();
    }
  });

  it('never saw a CROSSSLOT error: not on any node, not in any worker log', async () => {
    expect(await crossSlotErrors()).toBe(0);
    const logs = workers.flatMap((w) => w.lines());
    expect(logs.filter((line) => /CROSSSLOT|MOVED|ASK /.test(line))).toEqual([]);
    expect(logs.filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  });
});
