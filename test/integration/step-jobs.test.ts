import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';
import { eventually, startEngine, type Engine } from '../support/engine.ts';
import { createClient } from '../../src/client.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { BUILTIN_HANDLERS } from '../../src/handlers/builtin/index.ts';
import { createKeys, STEP_QUEUE } from '../../src/redis/keys.ts';
import { inspectRun } from '../../src/recovery/inspect.ts';
import { isStepJobName, JOB_NAMES, legacyStepJobId, stepJobId } from '../../src/engine/jobs.ts';

const t = useTestRedis('step-jobs');
let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

const scenario = (text: string) => parseScenario(text, { knownHandlers: BUILTIN_HANDLERS.map((h) => h.name) });
const TWO = scenario('name: checkout-journey\nsteps:\n  - { id: login, uses: noop }\n  - { id: pay, uses: noop }\n');

/** Enqueues `def` with no worker running; returns the run id. */
async function enqueueOnly(def = TWO) {
  const client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  try {
    const { runId } = await client.enqueue(def);
    return runId;
  } finally {
    await client.close();
  }
}

describe('step jobs (src/engine/jobs.ts)', () => {
  it('ids are short, deterministic and distinct per run, step and attempt', () => {
    const id = stepJobId('checkout-journey-mx1-abcd', 'login', 1);
    expect(id).toBe(stepJobId('checkout-journey-mx1-abcd', 'login', 1));
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}\.1$/);
    const others = [stepJobId('checkout-journey-mx1-abcd', 'login', 2), stepJobId('checkout-journey-mx1-abcd', 'pay', 1), stepJobId('checkout-journey-mx1-abce', 'login', 1), stepJobId('r-a', 'b', 1), stepJobId('r', 'a-b', 1)];
    expect(new Set([id, ...others]).size).toBe(6);
    expect(stepJobId('x'.repeat(200), 'y'.repeat(64), 12)).toHaveLength(19);
  });

  it("keep BullMQ's job hash compact: every stored field fits a listpack", async () => {
    const runId = await enqueueOnly();
    const jobKey = `${t.prefix}:${STEP_QUEUE}:${stepJobId(runId, 'login', 1)}`;
    expect(await t.redis.hget(jobKey, 'data')).toBe(JSON.stringify([runId, 'login', 1]));
    // 'ziplist' before Redis 7.
    expect(['listpack', 'ziplist']).toContain(await t.redis.object('ENCODING', jobKey));
    // A finished job goes as the worker's options say, which step jobs leave to it.
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
    expect((await engine.finish(runId)).summary.status).toBe('succeeded');
    expect(await t.redis.exists(jobKey)).toBe(0);
  });

  it('a plain step\'s job is named for its handler and group; any other is named step', async () => {
    const def = scenario(
      'name: named-jobs\ngroups:\n  pay: { timeoutMs: 60000 }\nsteps:\n' +
        '  - { id: plain, uses: noop }\n  - { id: grouped, uses: noop, group: pay }\n  - { id: conditional, uses: noop, if: "true" }\n',
    );
    const runId = await enqueueOnly(def);
    const nameOf = (stepId: string) => t.redis.hget(`${t.prefix}:${STEP_QUEUE}:${stepJobId(runId, stepId, 1)}`, 'name');
    expect(await nameOf('plain')).toBe('step:noop');
    expect(await nameOf('grouped')).toBe('step:noop:pay');
    expect(await nameOf('conditional')).toBe('step');
    for (const name of ['step', 'step:noop', 'step:noop:pay']) expect(isStepJobName(name)).toBe(true);
    expect(isStepJobName('run-deadline')).toBe(false);
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
    const run = await engine.finish(runId);
    expect(run.summary.status).toBe('succeeded');
    // The group's window opened with its first step, claimed from the job's name.
    expect(await t.redis.hget(createKeys(t.prefix).runGroups(runId), 'dl|pay')).not.toBeNull();
  });

  it('a step job whose data names no run, step and attempt is dropped, and the worker goes on', async () => {
    const queue = new Queue(STEP_QUEUE, { connection: t.redis.duplicate(), prefix: t.prefix });
    try {
      await queue.add(JOB_NAMES.step, { something: 'else' }, { jobId: 'malformed' });
      engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
      expect((await engine.run(TWO)).summary.status).toBe('succeeded');
      // Completed, so removed (the worker keeps no completed step jobs); a failed one would be kept.
      await eventually(async () => (await queue.getJobState('malformed')) === 'unknown', 10_000, 'the malformed job completed');
    } finally {
      await queue.close();
    }
  });

  it('a job enqueued in the earlier shape (object data, long id) still runs, and recovery does not call it lost', async () => {
    const runId = await enqueueOnly();
    const queue = new Queue(STEP_QUEUE, { connection: t.redis.duplicate(), prefix: t.prefix });
    try {
      // As versions before the short form wrote it.
      expect(await queue.remove(stepJobId(runId, 'pay', 1))).toBe(1);
      await queue.add(JOB_NAMES.step, { runId, stepId: 'pay', attempt: 1 }, { jobId: legacyStepJobId(runId, 'pay', 1), removeOnComplete: true, removeOnFail: { count: 1000 } });
      const repairs = await inspectRun({ redis: t.redis, keys: createKeys(t.prefix), queue, maxAgeMs: 60_000 }, runId, Date.now());
      expect(repairs).toEqual([]);
      engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
      const run = await engine.finish(runId);
      expect(run.summary.status).toBe('succeeded');
      expect(run.step('pay')).toMatchObject({ status: 'succeeded', attempts: 1 });
    } finally {
      await queue.close();
    }
  });
});
