import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';
import { enqueueSteps, stepJobId } from '../../src/engine/jobs.ts';
import { STEP_QUEUE } from '../../src/redis/keys.ts';
import { ADD_STANDARD_JOB_KEYS, recordStepAdd } from '../../src/worker/step-job-add.ts';

const t = useTestRedis('step-job-add');

type Command = (...args: unknown[]) => Promise<unknown>;

/** The 7th–9th bytes from the end of BullMQ's packed arguments hold the job's timestamp (a msgpack float64): zeroed. */
function withoutTimestamp(packed: Buffer): string {
  const hex = packed.toString('hex');
  // [prefix, jobId, name, timestamp, then six nils]: the float64 ("cb" + 8 bytes) before them.
  const at = hex.length - 12 - 18;
  expect(hex.slice(at, at + 2)).toBe('cb');
  return hex.slice(0, at + 2) + '0'.repeat(16) + hex.slice(at + 18);
}

let connection: Redis;
let queue: Queue;
beforeEach(async () => {
  connection = new Redis(t.url, { maxRetriesPerRequest: null });
  queue = new Queue(STEP_QUEUE, { connection, prefix: t.prefix });
  await queue.waitUntilReady();
});
afterEach(async () => {
  await queue.close();
  connection.disconnect();
});

describe('a step job added by the fused completion (src/worker/step-job-add.ts)', () => {
  it("records the call enqueueSteps makes, BullMQ's addStandardJob with the same keys and arguments but the timestamp", async () => {
    const hint = { plainHandler: 'noop', group: 'tail' };
    const recorded = recordStepAdd(queue, 'run-1', 'b', 1, hint);
    expect(recorded?.command).toMatch(/^addStandardJob:/);
    expect(recorded?.keys).toHaveLength(ADD_STANDARD_JOB_KEYS);

    // What BullMQ sends for the same job through enqueueSteps (Queue#addBulk).
    const raw = connection as unknown as Record<string, Command>;
    const name = recorded?.command as string;
    const original = raw[name];
    const sent: unknown[][] = [];
    const answers: Promise<unknown>[] = [];
    raw[name] = function (...args: unknown[]) {
      sent.push(args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args);
      const answer = original.apply(connection, args);
      answers.push(answer);
      return answer;
    };
    try {
      await enqueueSteps(queue, 'run-1', [{ stepId: 'b', attempt: 1, delayMs: 0 }], () => hint);
      // Sent on the connection, outside addBulk's MULTI: when Redis did not have the script yet
      // (NOSCRIPT, then ioredis's EVAL), addBulk can resolve before the job is stored.
      await Promise.all(answers);
    } finally {
      raw[name] = original;
    }
    expect(sent).toHaveLength(1);
    const real = sent[0];
    expect(real.slice(0, ADD_STANDARD_JOB_KEYS)).toEqual(recorded?.keys);
    const [packed, data, opts] = recorded?.args as [Buffer, string, Buffer];
    expect(withoutTimestamp(packed)).toBe(withoutTimestamp(real[ADD_STANDARD_JOB_KEYS] as Buffer));
    expect(data).toBe(real[ADD_STANDARD_JOB_KEYS + 1]);
    expect(Buffer.compare(opts, real[ADD_STANDARD_JOB_KEYS + 2] as Buffer)).toBe(0);
    // The job it added is the one the recorded call names.
    expect(await t.redis.hget(`${t.prefix}:${STEP_QUEUE}:${stepJobId('run-1', 'b', 1)}`, 'name')).toBe('step:noop:tail');
  });

  it('records nothing BullMQ would add with another script (a queue whose default options delay jobs)', async () => {
    const delaying = new Queue(STEP_QUEUE, { connection, prefix: t.prefix, defaultJobOptions: { delay: 1000 } });
    try {
      expect(recordStepAdd(delaying, 'run-1', 'b', 1, undefined)).toBeUndefined();
    } finally {
      await delaying.close();
    }
  });
});
