import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { useTestRedis } from '../support/context.ts';
import { startEngine, type Engine } from '../support/engine.ts';
import { luaScripts } from '../../src/redis/lua-scripts.generated.ts';
import { OPEN_GUARD } from '../../src/worker/guard.ts';
import { fusedCompletionUnavailable, VERIFIED_ADD_STANDARD_JOB, VERIFIED_MOVE_TO_ACTIVE, VERIFIED_MOVE_TO_FINISHED } from '../../src/worker/fused-completion.ts';
import type { RedisConnection } from '../../src/redis/connection.ts';
import { deleteLibraries, libraryNamePrefix, listLibraries } from '../../src/redis/functions.ts';
import { libraryReclaimer, UNUSED_AFTER_MS } from '../../src/recovery/libraries.ts';
import { createClient } from '../../src/client.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { BUILTIN_HANDLERS } from '../../src/handlers/builtin/index.ts';
import { createKeys, STEP_QUEUE } from '../../src/redis/keys.ts';
import { defineHandler } from '../../src/handlers/define.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import type { HandlerDefinition } from '../../src/handlers/types.ts';

/** Reports one call and 15 tokens per attempt. */
const metered = defineHandler({
  name: 'metered',
  input: z.object({}).passthrough(),
  run: (_input, ctx) => {
    ctx.reportUsage({ calls: 1, tokens: { input: 10, output: 5 } });
    return { ok: true };
  },
});

const t = useTestRedis('fused-completion');
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
const START = sha1(luaScripts.startAttempt.lua);
const FINISH = sha1(luaScripts.finishAttempt.lua);
const ADMIT = sha1(luaScripts.admitAttempt.lua);
const BULL_MOVE_TO_FINISHED = [...VERIFIED_MOVE_TO_FINISHED.keys()];
const BULL_MOVE_TO_ACTIVE = [...VERIFIED_MOVE_TO_ACTIVE.keys()];
const BULL_ADD_STANDARD_JOB = [...VERIFIED_ADD_STANDARD_JOB.keys()];

/** The quoted arguments of one MONITOR line (`+ts [db addr] "cmd" "arg" ...`), escapes left as sent. */
function monitorArgs(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
}

/** Every EVALSHA and FCALL sent under `prefix` while `body` runs, counted by what it is (a raw MONITOR socket). */
async function countScripts(prefix: string, body: () => Promise<void>) {
  const url = new URL(t.url);
  const socket = connect(Number(url.port || 6379), url.hostname);
  await once(socket, 'connect');
  socket.write('MONITOR\r\n');
  const counts = { startAttempt: 0, finishAttempt: 0, bullMoveToFinished: 0, bullMoveToActive: 0, bullAddStandardJob: 0, fused: 0, fusedActive: 0, admitAttempt: 0, admitAndClaim: 0, settleAttempt: 0, functionCalls: 0 };
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    const lines = (buffered + chunk.toString('latin1')).split('\r\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const args = monitorArgs(line);
      const command = args[0]?.toLowerCase();
      if ((command !== 'evalsha' && command !== 'fcall') || !args.slice(3).some((a) => a.startsWith(prefix))) continue;
      // The compositions run as Redis Functions (src/redis/functions.ts) named for the prefix.
      if (command === 'fcall' && args[1].startsWith(libraryNamePrefix(prefix))) counts.functionCalls++;
      if (args[1] === START) counts.startAttempt++;
      else if (args[1] === FINISH) counts.finishAttempt++;
      else if (BULL_MOVE_TO_FINISHED.includes(args[1])) counts.bullMoveToFinished++;
      else if (BULL_MOVE_TO_ACTIVE.includes(args[1])) counts.bullMoveToActive++;
      else if (BULL_ADD_STANDARD_JOB.includes(args[1])) counts.bullAddStandardJob++;
      // The guard's scripts run as its library (src/guardrails/guard-functions.ts): what to run last.
      else if (args[1] === ADMIT || (command === 'fcall' && args.at(-1) === 'admit')) counts.admitAttempt++;
      else if (args[2] === '28' || (command === 'fcall' && args.at(-1) === 'claim')) counts.admitAndClaim++;
      else if (command === 'fcall' && args.at(-1) === 'settle') counts.settleAttempt++;
      // The compositions hold BullMQ's queue keys as literals: no KEYS. A composed moveToFinished
      // carries the job's target set among its arguments, a composed moveToActive does not.
      else if (args[2] === '0' && args.slice(3).some((a) => a.endsWith(':completed') || a.endsWith(':failed'))) counts.fused++;
      else if (args[2] === '0') counts.fusedActive++;
    }
  });
  try {
    await new Promise((r) => setTimeout(r, 50));
    await body();
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    socket.destroy();
  }
  return counts;
}

const WIDE = `
name: wide
steps:
${Array.from({ length: 24 }, (_, i) => `  - { id: s${i}, uses: noop }`).join('\n')}
  - { id: gate, uses: echo, if: "true", with: { ok: true } }
  - { id: join, uses: echo, needs: [s0, s1], with: { a: "\${{ steps.s0.output }}" } }
`;

/** Five plain steps, each needing the one before (a group on the last two). */
const CHAIN = `
name: chain
steps:
  - { id: a, uses: noop }
  - { id: b, uses: noop, needs: [a] }
  - { id: c, uses: echo, needs: [b], with: { from: "\${{ run.id }}" } }
  - { id: d, uses: noop, needs: [c], group: tail }
  - { id: e, uses: noop, needs: [d] }
groups:
  tail: { timeoutMs: 60000 }
`;

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  delete process.env.SQ_FUSED_COMPLETION;
  delete process.env.SQ_REDIS_FUNCTIONS;
});

/** Starts one worker of concurrency 2, runs `yaml` on it and counts the scripts the run sent. */
async function runCounted(yaml: string, handlers: HandlerDefinition[] = []) {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2, handlers });
  let run: Awaited<ReturnType<Engine['run']>> | undefined;
  const counts = await countScripts(t.prefix, async () => {
    run = await engine!.run(yaml);
  });
  return { run: run as Awaited<ReturnType<Engine['run']>>, counts };
}

describe('round trips per step (docs/performance.md)', () => {
  it('the installed BullMQ moveToFinished is one the composition was verified against', async () => {
    const connection = new Redis(t.url, { maxRetriesPerRequest: null });
    const worker = new Worker('verify', null, { connection, prefix: t.prefix, autorun: false });
    try {
      await worker.waitUntilReady();
      // Fails on a BullMQ upgrade that changes the scripts: review the compositions, then add their sha1.
      expect(fusedCompletionUnavailable(connection as RedisConnection)).toBeUndefined();
      const scripts = (connection as unknown as { scriptsSet: Record<string, { lua: string }> }).scriptsSet;
      const active = Object.keys(scripts).find((k) => k.startsWith('moveToActive:')) as string;
      expect(VERIFIED_MOVE_TO_ACTIVE.has(sha1(scripts[active].lua))).toBe(true);
    } finally {
      await worker.close();
      connection.disconnect();
    }
  });

  it('names why it is off: the switch, a cluster, a missing or unverified script', () => {
    const fake = (lua?: string) => ({ scriptsSet: lua === undefined ? {} : { 'moveToFinished:9.9.9': { lua } } }) as unknown as RedisConnection;
    expect(fusedCompletionUnavailable({ isCluster: true } as unknown as RedisConnection)).toBe('Redis Cluster connection');
    expect(fusedCompletionUnavailable(fake())).toBe('BullMQ moveToFinished is not registered on this connection');
    expect(fusedCompletionUnavailable(fake('return 0'))).toBe('BullMQ 9.9.9 moveToFinished is not one this composition was verified against');
    process.env.SQ_FUSED_COMPLETION = '0';
    expect(fusedCompletionUnavailable(fake('return 0'))).toBe('SQ_FUSED_COMPLETION=0');
  });

  it('plain steps are claimed and finished in the script that completes their jobs; the verdict is the same', async () => {
    const { run, counts } = await runCounted(WIDE);
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.every((s) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
    // Each step was claimed once: separately, or inside the script BullMQ handed its job over with.
    const started = run!.events.filter((e) => e.type === 'step.started');
    expect(started).toHaveLength(26);
    // Only the `if` step claims in a call of its own, and only the steps with dependents finish
    // in one; every other job is completed, finished and followed by a claim in one call, and a
    // slot's first job (moveToActive) is claimed as it is handed over.
    expect(counts.startAttempt).toBe(1);
    expect(counts.finishAttempt).toBeLessThanOrEqual(2);
    expect(counts.bullMoveToFinished).toBe(0);
    expect(counts.bullMoveToActive).toBe(0);
    expect(counts.fused).toBeGreaterThanOrEqual(24);
    expect(counts.fusedActive).toBeGreaterThanOrEqual(1);
    expect(counts.functionCalls).toBe(counts.fused + counts.fusedActive);
  });

  it("a chain's next step is queued in the script that finishes the step before it, and handed to the same slot", async () => {
    const { run, counts } = await runCounted(CHAIN);
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.map((s) => [s.id, s.status, s.attempts])).toEqual(['a', 'b', 'c', 'd', 'e'].map((id) => [id, 'succeeded', 1]));
    // Only the root is added by a call of its own (the client's, a first call on its connection:
    // an EVAL, not counted); every other step by the completion of the step before it, which
    // also hands it to the same slot and claims it.
    expect(counts.bullAddStandardJob).toBe(0);
    expect(counts.finishAttempt).toBe(0);
    expect(counts.startAttempt).toBe(0);
    expect(counts.fused).toBeGreaterThanOrEqual(5);
    // Each step was queued once, after the one it needs succeeded and before it started.
    const seen = run.events.filter((e) => ['step.queued', 'step.started', 'step.succeeded'].includes(e.type)).map((e) => `${e.type}:${e.stepId}`);
    for (const [before, after] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e']]) {
      expect(seen.filter((x) => x === `step.queued:${after}`)).toHaveLength(1);
      expect(seen.indexOf(`step.succeeded:${before}`)).toBeLessThan(seen.indexOf(`step.queued:${after}`));
      expect(seen.indexOf(`step.queued:${after}`)).toBeLessThan(seen.indexOf(`step.started:${after}`));
    }
  });

  it('a fan-out past the completion\'s limit and a fan-in are queued by the worker after the completion that made them ready', async () => {
    const wide = `
name: fan
steps:
  - { id: root, uses: noop }
${Array.from({ length: 17 }, (_, i) => `  - { id: f${i}, uses: noop, needs: [root] }`).join('\n')}
  - { id: other, uses: noop }
  - { id: join, uses: noop, needs: [f0, other] }
`;
    const { run, counts } = await runCounted(wide);
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.every((s) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
    // Every finish rides on its job's completion. The worker queues what the completion did
    // not add with BullMQ's add after it: root's 17 dependents (past the completion's limit) in
    // one pipeline, and join (it needs f0 and other) once, after the later of the two (the
    // roots are the client's, a first call on its connection: an EVAL, not counted).
    expect(counts.finishAttempt).toBe(0);
    expect(counts.bullAddStandardJob).toBe(17 + 1);
    const order = run.events.map((e) => `${e.type}:${e.stepId ?? ''}`);
    for (let i = 0; i < 17; i++) {
      expect(order.filter((x) => x === `step.queued:f${i}`)).toHaveLength(1);
      expect(order.indexOf('step.succeeded:root')).toBeLessThan(order.indexOf(`step.queued:f${i}`));
    }
    // join was queued once, after both its needs succeeded, and started after it was queued.
    const seen = run.events.filter((e) => ['step.queued', 'step.started', 'step.succeeded'].includes(e.type)).map((e) => `${e.type}:${e.stepId}`);
    expect(seen.filter((x) => x === 'step.queued:join')).toHaveLength(1);
    for (const need of ['f0', 'other']) expect(seen.indexOf(`step.succeeded:${need}`)).toBeLessThan(seen.indexOf('step.queued:join'));
    expect(seen.indexOf('step.queued:join')).toBeLessThan(seen.indexOf('step.started:join'));
  });

  it('a step with both kinds of dependent: the one that needs it alone is added in its completion, the fan-in after', async () => {
    const mixed = `
name: mixed
steps:
  - { id: a, uses: noop }
  - { id: b, uses: noop }
  - { id: c, uses: noop, needs: [a] }
  - { id: j, uses: noop, needs: [a, b] }
`;
    const { run, counts } = await runCounted(mixed);
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.map((s) => [s.id, s.status, s.attempts])).toEqual(['a', 'b', 'c', 'j'].map((id) => [id, 'succeeded', 1]));
    // Every finish rode on its job's completion; c was added in a's, j by the worker's own add
    // after the completion that made it ready.
    expect(counts.finishAttempt).toBe(0);
    expect(counts.bullAddStandardJob).toBe(1);
    const seen = run.events.filter((e) => ['step.queued', 'step.started', 'step.succeeded'].includes(e.type)).map((e) => `${e.type}:${e.stepId}`);
    for (const id of ['c', 'j']) expect(seen.filter((x) => x === `step.queued:${id}`)).toHaveLength(1);
    for (const need of ['a', 'b']) expect(seen.indexOf(`step.succeeded:${need}`)).toBeLessThan(seen.indexOf('step.queued:j'));
  });

  it('the limit of 16 adds counts the dependents the completion would add: one that needs the step alone is added beside 17 fan-ins', async () => {
    const wide = `
name: wide-fan-in
steps:
  - { id: root, uses: noop }
  - { id: x, uses: noop }
  - { id: c, uses: noop, needs: [root] }
${Array.from({ length: 17 }, (_, i) => `  - { id: f${i}, uses: noop, needs: [root, x] }`).join('\n')}
`;
    const { run, counts } = await runCounted(wide);
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.every((s) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
    // c is added in root's completion; the 17 fan-ins by the worker after the later of root
    // and x, in one pipeline.
    expect(counts.finishAttempt).toBe(0);
    expect(counts.bullAddStandardJob).toBe(17);
  });

  /**
   * Enqueues WIDE with no worker, rewrites each of its 16 root step jobs' hash with `rewrite`,
   * then runs it on one worker: the run's verdict and the scripts it sent.
   */
  async function runWithJobsRewritten(rewrite: (jobKey: string) => Promise<void>) {
    const client = await createClient({ redisUrl: t.url, prefix: t.prefix });
    let runId = '';
    try {
      ({ runId } = await client.enqueue(parseScenario(WIDE, { knownHandlers: BUILTIN_HANDLERS.map((h) => h.name) })));
    } finally {
      await client.close();
    }
    const jobKeys = (await t.redis.keys(`${t.prefix}:${STEP_QUEUE}:*.1`)).filter((k) => k.split(':').length === 3);
    // The roots within maxParallel (16 by default); the rest are queued later, by the worker.
    expect(jobKeys.length).toBe(16);
    for (const key of jobKeys) await rewrite(key);
    let run: Awaited<ReturnType<Engine['finish']>> | undefined;
    const counts = await countScripts(t.prefix, async () => {
      engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
      run = await engine.finish(runId);
    });
    return { status: run?.summary.status, counts };
  }

  it("a job named only 'step' (an older client, recovery's re-enqueue) is still claimed as it is handed over", async () => {
    // Named as before stepJobName: the claim reads the step's handler and group in the dag hash.
    const { status, counts } = await runWithJobsRewritten(async (key) => {
      await t.redis.hset(key, 'name', 'step');
    });
    expect(status).toBe('succeeded');
    // Only the `if` step: the worker starts with jobs waiting, and fetches none before it has
    // wrapped BullMQ's calls. Unclaimed on hand-over, the 24 others would be 24 more.
    expect(counts.startAttempt).toBe(1);
    expect(counts.fused).toBeGreaterThanOrEqual(24);
  });

  it('a job whose hash answers name and data after other fields is still claimed as it is handed over', async () => {
    // BullMQ writes name and data first, and the claim reads them there (a listpack keeps the
    // order). Written again last, they come last: the claim must find them anyway.
    const { status, counts } = await runWithJobsRewritten(async (key) => {
      const [name, data] = await t.redis.hmget(key, 'name', 'data');
      await t.redis.hdel(key, 'name', 'data');
      await t.redis.hset(key, 'data', data as string, 'name', name as string);
      expect((await t.redis.hkeys(key)).slice(-2)).toEqual(['data', 'name']);
    });
    expect(status).toBe('succeeded');
    // Only the `if` step claims in a call of its own, as when the fields come first.
    expect(counts.startAttempt).toBe(1);
    expect(counts.fused).toBeGreaterThanOrEqual(24);
  });

  it('a worker with OPEN_GUARD claims plain steps on hand-over too; another custom guard does not', async () => {
    for (const [guard, separate] of [[OPEN_GUARD, 1], [{ before: OPEN_GUARD.before }, 26]] as const) {
      engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2, guard });
      let run: Awaited<ReturnType<Engine['run']>> | undefined;
      const counts = await countScripts(t.prefix, async () => {
        run = await engine!.run(WIDE);
      });
      expect(run?.summary.status).toBe('succeeded');
      expect(counts.startAttempt).toBe(separate);
      await engine.close();
      engine = undefined;
    }
  });

  it('SQ_REDIS_FUNCTIONS=0: the same compositions run as scripts, with the same verdict', async () => {
    process.env.SQ_REDIS_FUNCTIONS = '0';
    const { run, counts } = await runCounted(WIDE);
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.every((s) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
    expect(counts.functionCalls).toBe(0);
    expect(counts.fused).toBeGreaterThanOrEqual(24);
    expect(counts.startAttempt).toBe(1);
    // A chain's adds ride on its completions there too.
    let chain: Awaited<ReturnType<Engine['run']>> | undefined;
    const chained = await countScripts(t.prefix, async () => {
      chain = await engine!.run(CHAIN);
    });
    expect(chain?.summary.status).toBe('succeeded');
    expect(chained).toMatchObject({ functionCalls: 0, finishAttempt: 0, startAttempt: 0, bullAddStandardJob: 1 });
  });

  it('a library deleted under a running worker is loaded again; cleanup deletes only its prefix\'s', async () => {
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
    const first = await engine.run(WIDE);
    expect(first.summary.status).toBe('succeeded');
    const other = `${t.prefix}-other`;
    const foreign = `#!lua name=${libraryNamePrefix(other)}0\nredis.register_function('${libraryNamePrefix(other)}0', function() return 1 end)`;
    await t.redis.call('FUNCTION', 'LOAD', foreign);
    try {
      expect(await deleteLibraries(t.redis, t.prefix)).toBeGreaterThanOrEqual(1);
      const again = await engine.run(WIDE);
      expect(again.summary.status).toBe('succeeded');
      expect(again.summary.steps.every((s) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
      // Loaded again by the worker's next composed call.
      const listed = (await t.redis.call('FUNCTION', 'LIST', 'LIBRARYNAME', `${libraryNamePrefix(t.prefix)}*`)) as unknown[];
      expect(listed.length).toBeGreaterThanOrEqual(1);
      // The other prefix's library is left alone.
      expect(((await t.redis.call('FUNCTION', 'LIST', 'LIBRARYNAME', `${libraryNamePrefix(other)}*`)) as unknown[]).length).toBe(1);
    } finally {
      await deleteLibraries(t.redis, other);
    }
  });

  it('the reaper deletes the libraries nobody used lately and keeps the ones in use', async () => {
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
    expect((await engine.run(WIDE)).summary.status).toBe('succeeded');
    const keys = createKeys(t.prefix);
    const inUse = await listLibraries(t.redis, t.prefix);
    expect(inUse.length).toBeGreaterThanOrEqual(1);
    // An older version's library, last recorded as used long ago, and one never recorded.
    const [old, unrecorded] = [`${libraryNamePrefix(t.prefix)}0`, `${libraryNamePrefix(t.prefix)}1`];
    for (const name of [old, unrecorded]) await t.redis.call('FUNCTION', 'LOAD', `#!lua name=${name}\nredis.register_function('${name}', function() return 1 end)`);
    await t.redis.hset(keys.functions, old, Date.now() - UNUSED_AFTER_MS - 1);
    const reclaim = (dryRun: boolean) => libraryReclaimer().reclaim({ redis: t.redis, keys, now: Date.now(), dryRun });
    expect(await reclaim(true)).toBe(2);
    expect(await listLibraries(t.redis, t.prefix)).toHaveLength(inUse.length + 2);
    expect(await reclaim(false)).toBe(2);
    expect((await listLibraries(t.redis, t.prefix)).sort()).toEqual([...inUse].sort());
    expect(await t.redis.hexists(keys.functions, old)).toBe(0);
    // The worker still runs on its libraries.
    expect((await engine.run(WIDE)).summary.status).toBe('succeeded');
  });

  it('SQ_FUSED_COMPLETION=0: every step claims and finishes in calls of its own, with the same verdict', async () => {
    process.env.SQ_FUSED_COMPLETION = '0';
    const { run, counts } = await runCounted(WIDE);
    expect(run.summary.status).toBe('succeeded');
    expect(counts).toMatchObject({ startAttempt: 26, finishAttempt: 26, fused: 0, fusedActive: 0 });
    expect(counts.bullMoveToFinished).toBeGreaterThanOrEqual(24);
  });

  it('a guarded step with a static estimate is admitted and claimed as its job is handed over, and settled with its completion', async () => {
    await applyServices(t.redis, createKeys(t.prefix), validateServices({ services: { metered: { maxConcurrency: 10, rateLimit: { max: 1000, perMs: 1000 } } } }));
    const { run, counts } = await runCounted(
      `
name: costed
budget: { calls: 100, onExceed: fail }
steps:
${Array.from({ length: 6 }, (_, i) => `  - { id: c${i}, uses: metered, service: metered, cost: { calls: 1 } }`).join('\n')}
`,
      [metered],
    );
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.every((s) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
    // Admitted, claimed, settled and finished inside BullMQ's calls: no call of their own.
    expect(counts).toMatchObject({ admitAndClaim: 0, admitAttempt: 0, startAttempt: 0, settleAttempt: 0, finishAttempt: 0 });
    // ...and all of their work done there: usage committed, every reservation and permit given back.
    expect(run.summary.cost?.calls).toBe(6);
    expect(run.summary.cost?.tokens).toEqual({ input: 60, output: 30 });
    expect(run.summary.steps.map((s) => s.cost?.calls)).toEqual([1, 1, 1, 1, 1, 1]);
    const keys = createKeys(t.prefix);
    expect(await t.redis.zcard(keys.guard.run(run.summary.runId).reservations)).toBe(0);
    expect(await t.redis.hget(keys.guard.run(run.summary.runId).budget, 'spent:calls')).toBe('6');
    expect(await t.redis.zcard(keys.guard.service('metered').permits)).toBe(0);
    expect(await t.redis.zcard(keys.guard.service('metered').rate)).toBe(6);
    expect(await t.redis.hget(keys.guard.service('metered').stats, 'admitted')).toBe('6');
    expect(run.events.filter((e) => e.type === 'step.started')).toHaveLength(6);
  });

  it("a guarded chain: each step's settle, finish and its next step's add and admission go in one completion", async () => {
    await applyServices(t.redis, createKeys(t.prefix), validateServices({ services: { metered: { maxConcurrency: 10, rateLimit: { max: 1000, perMs: 1000 } } } }));
    const { run, counts } = await runCounted(
      `
name: costed-chain
budget: { calls: 100, onExceed: fail }
steps:
${Array.from({ length: 5 }, (_, i) => `  - { id: c${i}, uses: metered, service: metered, cost: { calls: 1 }${i > 0 ? `, needs: [c${i - 1}]` : ''} }`).join('\n')}
`,
      [metered],
    );
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.map((s) => [s.id, s.status, s.attempts, s.cost?.calls])).toEqual([0, 1, 2, 3, 4].map((i) => [`c${i}`, 'succeeded', 1, 1]));
    // No call of their own: not the settles, the finishes, the adds nor the admissions.
    expect(counts).toMatchObject({ admitAndClaim: 0, admitAttempt: 0, startAttempt: 0, settleAttempt: 0, finishAttempt: 0, bullAddStandardJob: 0 });
    const keys = createKeys(t.prefix);
    expect(await t.redis.hget(keys.guard.run(run.summary.runId).budget, 'spent:calls')).toBe('5');
    expect(await t.redis.zcard(keys.guard.run(run.summary.runId).reservations)).toBe(0);
    expect(await t.redis.zcard(keys.guard.service('metered').permits)).toBe(0);
  });

  it('a step the finish releases from the maxParallel wait list is queued by the worker after the completion', async () => {
    // root's three dependents need it alone: the completion adds the one maxParallel admits, the
    // finishes of the others' predecessors release the parked ones, which the worker queues.
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
    // A fan-in first: the worker's own adds are then EVALSHAs (a connection's first is an EVAL, not counted).
    expect((await engine.run(WIDE)).summary.status).toBe('succeeded');
    let run: Awaited<ReturnType<Engine['run']>> | undefined;
    const counts = await countScripts(t.prefix, async () => {
      run = await engine!.run(`
name: parked
maxParallel: 1
steps:
  - { id: root, uses: noop }
  - { id: a, uses: noop, needs: [root] }
  - { id: b, uses: noop, needs: [root] }
  - { id: c, uses: noop, needs: [root] }
`);
    });
    if (!run) throw new Error('no run');
    expect(run.summary.status).toBe('succeeded');
    expect(run.summary.steps.every((s) => s.status === 'succeeded' && s.attempts === 1)).toBe(true);
    // Never more than one step running: maxParallel held with the adds in the script.
    const running = new Set<string>();
    let most = 0;
    for (const e of run.events) {
      if (e.type === 'step.started') running.add(e.stepId as string);
      if (e.type === 'step.succeeded') running.delete(e.stepId as string);
      most = Math.max(most, running.size);
    }
    expect(most).toBe(1);
    // The first dependent is added by root's completion, the two released later by the worker,
    // root by the client: three adds of their own, not four.
    expect(counts.finishAttempt).toBe(0);
    expect(counts.bullAddStandardJob).toBe(3);
  });

  it('a guarded step whose estimate reads its input is admitted (and claimed) by its processor', async () => {
    const estimated = defineHandler({ ...metered, name: 'estimated', estimate: () => ({ calls: 1 }) });
    const { run, counts } = await runCounted(
      `
name: estimated
budget: { calls: 100, onExceed: fail }
steps:
${Array.from({ length: 4 }, (_, i) => `  - { id: e${i}, uses: estimated, service: svc }`).join('\n')}
`,
      [estimated],
    );
    expect(run.summary.status).toBe('succeeded');
    expect(counts).toMatchObject({ admitAndClaim: 4, admitAttempt: 0, settleAttempt: 0 });
    expect(await t.redis.zcard(createKeys(t.prefix).guard.run(run.summary.runId).reservations)).toBe(0);
  });

  it('an admission refused on hand-over puts the job back (wait) or fails the step (budget), as in the processor', async () => {
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 4, handlers: [metered] });
    await applyServices(t.redis, createKeys(t.prefix), validateServices({ services: { one: { maxConcurrency: 1 } } }));
    // Four steps on a service that takes one at a time: the others wait, none uses an attempt.
    let waited: Awaited<ReturnType<Engine['run']>> | undefined;
    let refused: Awaited<ReturnType<Engine['run']>> | undefined;
    const counts = await countScripts(t.prefix, async () => {
      waited = await engine!.run(`
name: one-at-a-time
steps:
${Array.from({ length: 4 }, (_, i) => `  - { id: w${i}, uses: sleep, service: one, with: { ms: 60 } }`).join('\n')}
`);
      // A chain under a budget of two calls: the third step is refused when its job is handed over.
      refused = await engine!.run(`
name: over-budget
budget: { calls: 2, onExceed: fail }
steps:
${Array.from({ length: 4 }, (_, i) => `  - { id: b${i}, uses: metered, cost: { calls: 1 }${i > 0 ? `, needs: [b${i - 1}]` : ''} }`).join('\n')}
`);
    });
    // Every admission, the refused ones included, was made as a job was handed over.
    expect(counts).toMatchObject({ admitAndClaim: 0, admitAttempt: 0 });
    if (!waited || !refused) throw new Error('runs did not finish');
    expect(waited.summary.status).toBe('succeeded');
    expect(waited.summary.steps.every((s) => s.attempts === 1)).toBe(true);
    const spans = waited.summary.steps.map((s) => [Date.parse(String(s.startedAt)), Date.parse(String(s.finishedAt))]).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    expect(refused.summary.status).toBe('failed');
    expect(refused.summary.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'failed', 'skipped']);
    expect(refused.step('b2').errors.map((e) => e.kind)).toEqual(['budget_exceeded']);
    expect(refused.events.filter((e) => e.type === 'budget.exceeded')).toHaveLength(1);
    expect(await t.redis.zcard(createKeys(t.prefix).guard.run(refused.runId).reservations)).toBe(0);
  });

  it("a large run's steps hash is kept a hash table (no field-by-field scans); a small run's stays compact", async () => {
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
    const keys = createKeys(t.prefix);
    const large = await engine.run(WIDE);
    const small = await engine.run('name: small\nsteps:\n  - { id: a, uses: noop }\n  - { id: b, uses: noop, needs: [a] }\n');
    expect([large.summary.status, small.summary.status]).toEqual(['succeeded', 'succeeded']);
    expect(await t.redis.object('ENCODING', keys.runSteps(large.summary.runId))).toBe('hashtable');
    // 'ziplist' before Redis 7.
    expect(['listpack', 'ziplist']).toContain(await t.redis.object('ENCODING', keys.runSteps(small.summary.runId)));
    // The marker that keeps the encoding is no step's field.
    expect(large.summary.steps.map((s) => s.id)).not.toContain('_encoding');
  });
});
