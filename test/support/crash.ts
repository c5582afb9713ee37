/**
 * Crash injection: plays a worker that dies between two writes, using the engine's own
 * scripts, so tests and drills can leave exactly the state a real crash leaves.
 */
import type { Queue } from 'bullmq';
import type { RedisConnection } from '../../src/redis/connection.ts';
import type { Keys } from '../../src/redis/keys.ts';
import { stepJobId } from '../../src/engine/jobs.ts';
import { createRunStore } from '../../src/engine/store.ts';

export const CRASHED_WORKER = 'crashed-worker';

/**
 * Takes the step's job away from the queue, claims the attempt and records it succeeded —
 * then "dies" before adding the jobs of the steps that became ready. Returns those steps.
 */
export async function finishWithoutEnqueue(redis: RedisConnection, keys: Keys, queue: Queue, runId: string, stepId: string, output: unknown = null): Promise<string[]> {
  const store = createRunStore(redis, keys, { workerId: CRASHED_WORKER });
  await queue.remove(stepJobId(runId, stepId, 1));
  const claim = await store.startAttempt(runId, stepId, 1);
  if (claim.code !== 1) throw new Error(`could not claim ${stepId}: ${claim.extra}`);
  const now = Date.now();
  const result = await store.finishAttempt(runId, stepId, 'succeeded', { attempt: 1, status: 'succeeded', workerId: CRASHED_WORKER, startedAt: now, finishedAt: now }, { output: JSON.stringify(output) });
  return result.toEnqueue.map((i) => i.stepId);
}

/** Claims attempt 1 of the step and "dies" with its job gone: the step stays `running`. */
export async function claimAndVanish(redis: RedisConnection, keys: Keys, queue: Queue, runId: string, stepId: string): Promise<void> {
  const store = createRunStore(redis, keys, { workerId: CRASHED_WORKER });
  await queue.remove(stepJobId(runId, stepId, 1));
  const claim = await store.startAttempt(runId, stepId, 1);
  if (claim.code !== 1) throw new Error(`could not claim ${stepId}: ${claim.extra}`);
}
