import type { Queue } from 'bullmq';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { enqueueSteps, scheduleDeadline, stepJobId, deadlineJobId, deadlineQueueOf } from '../engine/jobs.ts';
import { nextRetry } from '../engine/backoff.ts';
import type { AttemptRecord, RunStore } from '../engine/store.ts';
import type { Failure } from '../errors.ts';
import type { LostJob, Repair } from './inspect.ts';
import type { RecoveryAction } from './report.ts';

export interface RepairContext {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly queue: Queue;
  /** Writes with the reaper's id as worker id, so its events say who repaired. */
  readonly store: RunStore;
}

/** A job id can only be added again once the old job with that id is out of the way. */
async function clearLostJob(queue: Queue, jobId: string, job: LostJob): Promise<void> {
  if (job !== 'missing') await queue.remove(jobId);
}

/** The report entry of a repair. */
export function actionOf(repair: Repair): RecoveryAction {
  const action: RecoveryAction = { action: repair.action, runId: repair.runId, reason: repair.reason };
  if ('stepId' in repair) {
    action.stepId = repair.stepId;
    action.attempt = repair.attempt;
  }
  return action;
}

async function retryStep(ctx: RepairContext, repair: Extract<Repair, { action: 'retry_step' }>): Promise<boolean> {
  const { runId, stepId, attempt } = repair;
  const jobId = stepJobId(runId, stepId, attempt);
  if (repair.mode === 'give_back') {
    // Nothing says the attempt ever ended: it runs again under the same number, like a stall.
    const released = await ctx.store.releaseAttempt(runId, stepId, attempt, 'recovery');
    if (released.code !== 1) return false;
    await clearLostJob(ctx.queue, jobId, repair.job);
    await enqueueSteps(ctx.queue, runId, [{ stepId, attempt, delayMs: 0 }]);
    return true;
  }
  const step = repair.def.steps.find((s) => s.id === stepId);
  if (!step) return false;
  const failure: Failure = { kind: 'stalled', message: repair.reason, retryable: true };
  const decision = nextRetry(failure, attempt, step.retry);
  const now = Date.now();
  const record: AttemptRecord = {
    attempt,
    status: decision.retry ? 'retry' : 'failed',
    kind: 'stalled',
    message: repair.reason,
    workerId: repair.workerId,
    startedAt: repair.startedAt,
    finishedAt: now,
    ...(decision.retry ? { retryDelayMs: decision.delayMs } : {}),
  };
  const result = await ctx.store.finishAttempt(runId, stepId, decision.retry ? 'retry' : 'failed', record, { retryDelayMs: record.retryDelayMs });
  if (result.code !== 1) return false;
  await enqueueSteps(ctx.queue, runId, result.toEnqueue);
  return true;
}

/**
 * Does one repair. Every state change goes through the engine's Lua scripts, which check
 * the state again, so a repair that raced with a live worker is discarded (returns
 * undefined) instead of applied twice; jobs are added under their deterministic ids.
 */
export async function applyRepair(ctx: RepairContext, repair: Repair): Promise<RecoveryAction | undefined> {
  switch (repair.action) {
    case 'skip':
      await ctx.redis.zrem(ctx.keys.activeRuns, repair.runId);
      return actionOf(repair);
    case 'mark_failed':
      return (await ctx.store.endRun(repair.runId, 'failed', repair.reason)).code === 1 ? actionOf(repair) : undefined;
    case 'retry_step':
      return (await retryStep(ctx, repair)) ? actionOf(repair) : undefined;
    case 'resume':
      if ('deadline' in repair) {
        await clearLostJob(deadlineQueueOf(ctx.queue), deadlineJobId(repair.deadline), repair.job);
        await scheduleDeadline(ctx.queue, repair.deadline, repair.delayMs);
      } else {
        await clearLostJob(ctx.queue, stepJobId(repair.runId, repair.stepId, repair.attempt), repair.job);
        await enqueueSteps(ctx.queue, repair.runId, [{ stepId: repair.stepId, attempt: repair.attempt, delayMs: repair.delayMs }]);
      }
      return actionOf(repair);
  }
}
