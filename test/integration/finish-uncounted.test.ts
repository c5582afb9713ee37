/**
 * A succeeded finish from a worker that knows its run never counts in-flight steps (no more
 * steps than maxParallel) reads nothing of the run hash (finishAttempt's ARGV[15]): these
 * check that the verdict, the end of the run and late results come out as a full read gives.
 */
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/engine/store.ts';
import { parseTestScenario } from '../support/engine.ts';
import { useTestRedis } from '../support/context.ts';
import { storeQueuedRun } from '../support/stored-run.ts';

const t = useTestRedis('finish-uncounted');
const def = parseTestScenario('name: uncounted\nsteps:\n  - { id: a, uses: noop }\n  - { id: b, uses: noop }\n');

async function runningRun(runId: string) {
  const { keys, store, now, deadline } = await storeQueuedRun(t.redis, t.prefix, def, runId);
  for (const id of ['a', 'b']) expect((await store.startAttempt(runId, id, 1)).code).toBe(1);
  const record = (status: string): AttemptRecord => ({ attempt: 1, workerId: 'w1', startedAt: now, finishedAt: now, status });
  return { keys, store, deadline, record };
}

describe('a succeeded finish that reads nothing of the run hash', () => {
  it('ends the run succeeded when every step succeeded', async () => {
    const { keys, store, deadline, record } = await runningRun('r1');
    const first = await store.finishAttempt('r1', 'a', 'succeeded', record('succeeded'), { uncounted: deadline });
    expect(first).toMatchObject({ code: 1, runStatus: 'running' });
    const last = await store.finishAttempt('r1', 'b', 'succeeded', record('succeeded'), { uncounted: deadline });
    expect(last).toMatchObject({ code: 1, runStatus: 'succeeded' });
    expect(await t.redis.hmget(keys.run('r1'), 'status', 'open')).toEqual(['succeeded', '0']);
    expect(last.emitted.map((e) => e.type)).toEqual(['step.succeeded', 'run.succeeded']);
  });

  it('still reads the verdict when the run ends: a step failed before, the run fails', async () => {
    const { keys, store, deadline, record } = await runningRun('r2');
    expect((await store.finishAttempt('r2', 'a', 'failed', { ...record('failed'), kind: 'assertion', message: 'no' })).code).toBe(1);
    const last = await store.finishAttempt('r2', 'b', 'succeeded', record('succeeded'), { uncounted: deadline });
    expect(last).toMatchObject({ code: 1, runStatus: 'failed' });
    expect(await t.redis.hget(keys.run('r2'), 'status')).toBe('failed');
  });

  it('discards the result of a step the end of its run swept, with the run status as it is', async () => {
    const { keys, store, deadline, record } = await runningRun('r3');
    expect((await store.endRun('r3', 'cancelled', 'stop')).code).toBe(1);
    const late = await store.finishAttempt('r3', 'a', 'succeeded', record('succeeded'), { uncounted: deadline });
    expect(late).toMatchObject({ code: 0, runStatus: 'cancelled', emitted: [] });
    expect(await t.redis.hmget(keys.runSteps('r3'), 'st|a')).toEqual(['cancelled']);
    expect(await t.redis.hget(keys.run('r3'), 'open')).toBe('0');
  });
});
