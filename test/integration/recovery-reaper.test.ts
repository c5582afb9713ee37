import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Queue, Worker } from 'bullmq';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { createWorker } from '../../src/worker/worker.ts';
import { DEADLINE_QUEUE, STEP_QUEUE } from '../../src/redis/keys.ts';
import { closeDeadlineQueue, deadlineJobId, deadlineQueueOf, enqueueSteps, JOB_NAMES, KEEP_JOBS, stepJobData, stepJobId } from '../../src/engine/jobs.ts';
import { createRunStore } from '../../src/engine/store.ts';
import { parseEvent } from '../../src/engine/events.ts';
import { runRecovery, type RecoveryOptions } from '../../src/recovery/reaper.ts';
import { lastReport } from '../../src/recovery/report.ts';
import { tryLock } from '../../src/recovery/lock.ts';
import { useTestRedis } from '../support/context.ts';
import { claimAndVanish, finishWithoutEnqueue } from '../support/crash.ts';
import { eventsOf, eventually, parseTestScenario, silentLogger, within } from '../support/engine.ts';

const t = useTestRedis('recovery-reaper');
let client: ScenarioClient;
let queue: Queue;

beforeEach(async () => {
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  queue = new Queue(STEP_QUEUE, { connection: client.redis, prefix: t.prefix });
});
afterEach(async () => {
  await closeDeadlineQueue(queue);
  await queue.close();
  await client.close();
});

// A short second look: nothing in these tests writes between a state and its job.
const recover = (extra: Partial<RecoveryOptions> = {}) => runRecovery({ redis: client.redis, keys: client.keys, queue, by: 'test-reaper', confirmMs: 50, ...extra });

const diamond = parseTestScenario(`
name: diamond
steps:
  - { id: a, uses: echo, with: { v: 1 } }
  - { id: b, uses: echo, needs: [a], with: { from: "{{ steps.a.output.v }}" } }
  - { id: c, uses: noop, needs: [a] }
  - { id: d, uses: noop, needs: [b, c] }
`);

async function globalEvents() {
  const entries = await client.redis.xrange(client.keys.globalEvents, '-', '+');
  return entries.map(([id, fields]) => parseEvent(id, fields)).filter((e) => e.type.startsWith('recovery.'));
}

function worker() {
  return createWorker({ redisUrl: t.url, prefix: t.prefix, logger: silentLogger, shutdownGraceMs: 1_000, recoveryIntervalMs: false });
}

describe('reaper: resume (SPEC §13)', () => {
  it('re-adds the jobs of steps made ready by a worker that died before enqueueing them; a dry run first changes nothing', async () => {
    const { runId } = await client.enqueue(diamond);
    const ready = await finishWithoutEnqueue(client.redis, client.keys, queue, runId, 'a', { v: 1 });
    expect(ready.sort()).toEqual(['b', 'c']);
    expect(await queue.getJobState(stepJobId(runId, 'b', 1))).toBe('unknown');

    const dry = await recover({ dryRun: true });
    expect(dry.ran && dry.report).toMatchObject({ dryRun: true, scanned: 1, resumed: 2, retried: 0, markedFailed: 0 });
    expect(await queue.getJobState(stepJobId(runId, 'b', 1))).toBe('unknown');
    expect(await globalEvents()).toEqual([]);
    expect(await lastReport(client.redis, client.keys)).toBeUndefined();

    const real = await recover();
    expect(real.ran && real.report).toMatchObject({ dryRun: false, scanned: 1, resumed: 2, errors: [] });
    expect(real.ran && real.report.actions.map((a) => [a.action, a.stepId, a.attempt])).toEqual(
      expect.arrayContaining([['resume', 'b', 1], ['resume', 'c', 1]]),
    );
    expect(await queue.getJobState(stepJobId(runId, 'b', 1))).toBe('waiting');
    expect((await lastReport(client.redis, client.keys))?.resumed).toBe(2);
    const types = (await globalEvents()).map((e) => e.type);
    expect(types[0]).toBe('recovery.started');
    expect(types.at(-1)).toBe('recovery.completed');
    expect(types.filter((x) => x === 'recovery.action')).toHaveLength(2);

    const w = await worker();
    try {
      const summary = await within(client.wait(runId), 20_000, 'resumed run');
      expect(summary.status).toBe('succeeded');
      expect(summary.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([
        ['a', 'succeeded', 1],
        ['b', 'succeeded', 1],
        ['c', 'succeeded', 1],
        ['d', 'succeeded', 1],
      ]);
      // The repair is on the run's own timeline too.
      expect((await eventsOf(client, runId)).filter((e) => e.type === 'recovery.action').map((e) => e.stepId).sort()).toEqual(['b', 'c']);
    } finally {
      await w.close();
    }
  });

  it('a second pass finds nothing to do', async () => {
    const { runId } = await client.enqueue(diamond);
    await finishWithoutEnqueue(client.redis, client.keys, queue, runId, 'a');
    await recover();
    const again = await recover();
    expect(again.ran && again.report).toMatchObject({ scanned: 1, resumed: 0, retried: 0, markedFailed: 0, skipped: 0, actions: [] });
  });

  it('leaves alone a job a live writer adds between its two writes, and repairs the gap a crash leaves', async () => {
    const { runId } = await client.enqueue(diamond);
    // b and c are queued without their jobs: as after a crash, or mid-way through a live commit.
    await finishWithoutEnqueue(client.redis, client.keys, queue, runId, 'a', { v: 1 });
    const pass = recover({ confirmMs: 2_000 });
    // The first look (a few ms) is long over; the second is 1.5 s away.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await enqueueSteps(queue, runId, [{ stepId: 'b', attempt: 1, delayMs: 0 }]);
    const outcome = await pass;
    expect(outcome.ran && outcome.report.actions.map((a) => [a.action, a.stepId, a.attempt])).toEqual([['resume', 'c', 1]]);
    const runEvents = (await client.redis.xrange(client.keys.runEvents(runId), '-', '+')).map(([id, fields]) => parseEvent(id, fields));
    expect(runEvents.filter((e) => e.type === 'recovery.action').map((e) => e.stepId)).toEqual(['c']);
  });

  it('re-adds a missing run deadline job', async () => {
    const { runId } = await client.enqueue(diamond);
    const deadlines = deadlineQueueOf(queue);
    expect(deadlines.name).toBe(DEADLINE_QUEUE);
    expect(await deadlines.getJobState(deadlineJobId({ runId }))).toBe('delayed');
    await deadlines.remove(deadlineJobId({ runId }));
    const outcome = await recover();
    expect(outcome.ran && outcome.report.actions).toEqual([expect.objectContaining({ action: 'resume', runId, reason: 'run deadline job is missing' })]);
    expect(await deadlines.getJobState(deadlineJobId({ runId }))).toBe('delayed');
    // Deadline jobs never wait in the step queue, where a delayed job slows every fetch.
    expect(await queue.getJobState(deadlineJobId({ runId }))).toBe('unknown');
  });

  it('takes an older client\'s deadline job in the step queue as present, and a worker still ends the run with it', async () => {
    // The run's own deadline is a minute away: only the deadline job ends it within seconds
    // (its running step would time itself out at the run deadline, not before).
    const { runId } = await client.enqueue(parseTestScenario('name: slow\ntimeoutMs: 60000\nsteps:\n  - { id: s, uses: sleep, with: { ms: 30000 } }\n'));
    const id = deadlineJobId({ runId });
    // Where clients before the deadline queue put it.
    await deadlineQueueOf(queue).remove(id);
    await queue.add(JOB_NAMES.runDeadline, { runId }, { ...KEEP_JOBS, jobId: id, delay: 500 });
    const outcome = await recover();
    expect(outcome.ran && outcome.report.actions).toEqual([]);
    const w = await createWorker({ redisUrl: t.url, prefix: t.prefix, logger: silentLogger, shutdownGraceMs: 1_000, recoveryIntervalMs: false });
    try {
      await eventually(async () => (await client.redis.hget(client.keys.run(runId), 'status')) === 'timed_out', 10_000, 'run timed out by the step queue\'s deadline job');
      // Processed, and removed once completed (a moment after its script ended the run).
      await eventually(async () => (await queue.getJobState(id)) === 'unknown', 5_000, 'the deadline job completed');
    } finally {
      await w.close();
    }
  });

  it('a worker repairs at start without being asked, and never waits for it', async () => {
    const { runId } = await client.enqueue(diamond);
    await finishWithoutEnqueue(client.redis, client.keys, queue, runId, 'a', { v: 1 });
    const w = await createWorker({ redisUrl: t.url, prefix: t.prefix, logger: silentLogger, shutdownGraceMs: 1_000 });
    try {
      expect((await within(client.wait(runId), 20_000, 'run repaired at worker start')).status).toBe('succeeded');
      // The pass writes its report after its actions: the repaired run may finish first.
      await eventually(async () => (await lastReport(client.redis, client.keys)) !== undefined, 5_000, 'start-pass report');
      expect((await lastReport(client.redis, client.keys))?.trigger).toBe('start');
    } finally {
      await w.close();
    }
  });
});

describe('reaper: retry_step', () => {
  it('gives a running step whose job vanished back under the same attempt', async () => {
    const { runId } = await client.enqueue(diamond);
    await claimAndVanish(client.redis, client.keys, queue, runId, 'a');
    const outcome = await recover();
    expect(outcome.ran && outcome.report).toMatchObject({ retried: 1 });
    expect(outcome.ran && outcome.report.actions[0]).toMatchObject({ action: 'retry_step', stepId: 'a', attempt: 1 });
    const w = await worker();
    try {
      const summary = await within(client.wait(runId), 20_000, 'given back');
      expect(summary.status).toBe('succeeded');
      expect(summary.steps[0]).toMatchObject({ id: 'a', attempts: 1, errors: [] });
    } finally {
      await w.close();
    }
  });

  it('records a failed job of a running step as a stalled attempt and retries it per the step policy', async () => {
    const def = parseTestScenario(`
name: stall
steps:
  - { id: a, uses: echo, with: { v: 1 }, retry: { attempts: 2, backoff: { type: fixed, delayMs: 10 } } }
  - { id: once, uses: noop, needs: [a] }
`);
    const { runId } = await client.enqueue(def);
    // A processor that claims the attempt, then dies in a way BullMQ records as a failed job.
    const store = createRunStore(client.redis, client.keys, { workerId: 'doomed' });
    const doomed = new Worker(
      STEP_QUEUE,
      async (job) => {
        const { runId: id, stepId, attempt } = stepJobData(job.data)!;
        await store.startAttempt(id, stepId, attempt);
        throw new Error('job stalled more than allowable limit');
      },
      { connection: client.redis.duplicate(), prefix: t.prefix, autorun: true },
    );
    try {
      await within(
        (async () => {
          while ((await queue.getJobState(stepJobId(runId, 'a', 1))) !== 'failed') await new Promise((r) => setTimeout(r, 20));
        })(),
        10_000,
        'job failed',
      );
    } finally {
      await doomed.close();
    }
    const outcome = await recover();
    expect(outcome.ran && outcome.report.actions[0]).toMatchObject({ action: 'retry_step', stepId: 'a', attempt: 1 });
    const w = await worker();
    try {
      const summary = await within(client.wait(runId), 20_000, 'retried');
      expect(summary.status).toBe('succeeded');
      expect(summary.steps[0]).toMatchObject({ attempts: 2, errors: [expect.objectContaining({ attempt: 1, kind: 'stalled', workerId: 'doomed' })] });
    } finally {
      await w.close();
    }
  });
});

describe('reaper: mark_failed and skip', () => {
  it('fails a run older than the max age with a reason; the dry run reports it and changes nothing', async () => {
    const { runId } = await client.enqueue(diamond);
    await new Promise((r) => setTimeout(r, 20));
    const before = await client.redis.hgetall(client.keys.run(runId));

    const dry = await recover({ dryRun: true, maxAgeMs: 10 });
    expect(dry.ran && dry.report).toMatchObject({ markedFailed: 1, actions: [expect.objectContaining({ action: 'mark_failed', runId })] });
    expect(await client.redis.hgetall(client.keys.run(runId))).toEqual(before);

    const real = await recover({ maxAgeMs: 10 });
    expect(real.ran && real.report.markedFailed).toBe(1);
    const summary = await client.status(runId);
    expect(summary?.status).toBe('failed');
    expect(summary?.reason).toMatch(/older than SQ_RECOVERY_MAX_AGE_MS \(10ms\)/);
    expect(summary?.steps.map((s) => s.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    expect(await client.redis.zscore(client.keys.activeRuns, runId)).toBeNull();
  });

  it('skips (and unindexes) terminal and vanished runs left in the active index', async () => {
    const { runId } = await client.enqueue(diamond);
    await client.cancel(runId);
    await client.redis.zadd(client.keys.activeRuns, Date.now(), runId, Date.now(), 'gone-run');
    const outcome = await recover();
    expect(outcome.ran && outcome.report).toMatchObject({ scanned: 2, skipped: 2 });
    expect(await client.redis.zcard(client.keys.activeRuns)).toBe(0);
    // No stream is created for a run that no longer exists.
    expect(await client.redis.exists(client.keys.runEvents('gone-run'))).toBe(0);
  });
});

describe('reaper: one pass at a time, reclaimers', () => {
  it('does not run while another holder has the lock, and says who holds it', async () => {
    const held = await tryLock(client.redis, client.keys.recovery.lock, 5_000, 'other-worker');
    try {
      expect(await recover()).toEqual({ ran: false, heldBy: 'other-worker' });
      // A dry run reads only, so it needs no lock.
      expect((await recover({ dryRun: true })).ran).toBe(true);
    } finally {
      await held?.release();
    }
    expect((await recover()).ran).toBe(true);
  });

  it('reports what reclaimers free, and tells them when it is a dry run', async () => {
    const seen: boolean[] = [];
    const reclaimers = [{ name: 'test-permits', reclaim: async (ctx: { dryRun: boolean }) => (seen.push(ctx.dryRun), 3) }];
    const dry = await recover({ dryRun: true, reclaimers });
    const real = await recover({ reclaimers });
    expect(seen).toEqual([true, false]);
    expect(dry.ran && dry.report.reclaimed).toBe(3);
    expect(real.ran && real.report.actions).toEqual([{ action: 'reclaim', reason: 'expired test-permits', count: 3 }]);
    const action = (await globalEvents()).find((e) => e.type === 'recovery.action');
    expect(action?.data).toMatchObject({ action: 'reclaim', count: 3 });
  });
});
