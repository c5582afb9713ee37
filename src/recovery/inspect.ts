import type { JobState, Queue } from 'bullmq';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { deadlineJobId, deadlineQueueOf, legacyStepJobId, stepJobId, type DeadlineJobData } from '../engine/jobs.ts';
import { TERMINAL_RUN_STATUSES, type RunStatus } from '../engine/types.ts';
import type { AttemptRecord } from '../engine/store.ts';
import type { ScenarioDef } from '../scenario/types.ts';

/** A job that should exist but does not (gone), or ended without moving its step on. */
export type LostJob = 'missing' | 'completed' | 'failed';

/** What a run needs; found by {@link inspectRun}, done by applyRepair. */
export type Repair =
  | { action: 'skip'; runId: string; reason: string; runExists: boolean }
  | { action: 'mark_failed'; runId: string; reason: string }
  | { action: 'resume'; runId: string; stepId: string; attempt: number; delayMs: number; job: LostJob; reason: string }
  | { action: 'resume'; runId: string; deadline: DeadlineJobData; delayMs: number; job: LostJob; reason: string }
  | {
      action: 'retry_step';
      runId: string;
      stepId: string;
      attempt: number;
      /** `give_back`: same attempt again (the job vanished); `new_attempt`: the job failed, kind `stalled`. */
      mode: 'give_back' | 'new_attempt';
      job: LostJob;
      reason: string;
      def: ScenarioDef;
      workerId: string;
      startedAt: number;
    };

export interface InspectContext {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly queue: Queue;
  readonly maxAgeMs: number;
}

const PRESENT: ReadonlySet<JobState | 'unknown'> = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The job's state when it is lost (absent, or over while its step still waits on it). A job
 * absent under its id may be present under `legacyId`, the id an older version gave it.
 */
async function lostJob(queue: Queue, jobId: string, legacyId?: string): Promise<{ lost: LostJob; failedReason?: string } | undefined> {
  const state = await queue.getJobState(jobId);
  if (PRESENT.has(state)) return undefined;
  if (state === 'unknown' && legacyId && PRESENT.has(await queue.getJobState(legacyId))) return undefined;
  if (state === 'failed') return { lost: 'failed', failedReason: (await queue.getJob(jobId))?.failedReason };
  return { lost: state === 'completed' ? 'completed' : 'missing' };
}

function retryDueIn(attempts: (string | null)[], now: number): number {
  const previous = attempts[0] ? (JSON.parse(attempts[0]) as AttemptRecord) : undefined;
  if (!previous) return 0;
  return Math.max(0, previous.finishedAt + (previous.retryDelayMs ?? 0) - now);
}

/**
 * Finds what a crash between two writes left in one active run: a run too old to keep
 * waiting for, a terminal run still indexed as active, ready steps without a job, running
 * steps whose job is gone or failed, deadline jobs that were never added.
 */
export async function inspectRun(ctx: InspectContext, runId: string, now: number): Promise<Repair[]> {
  const { redis, keys, queue } = ctx;
  const res = await redis.multi().hgetall(keys.run(runId)).hgetall(keys.runSteps(runId)).hgetall(keys.runGroups(runId)).exec();
  const [run, steps, groups] = (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v as Record<string, string>;
  });
  if (!run?.status) return [{ action: 'skip', runId, reason: 'run no longer exists', runExists: false }];
  const status = run.status as RunStatus;
  if (TERMINAL_RUN_STATUSES.includes(status)) return [{ action: 'skip', runId, reason: `run is already ${status}`, runExists: true }];

  const createdAt = Number(run.createdAt);
  if (now - createdAt > ctx.maxAgeMs) {
    const reason = `run still ${status} after ${now - createdAt}ms, older than SQ_RECOVERY_MAX_AGE_MS (${ctx.maxAgeMs}ms); created ${new Date(createdAt).toISOString()}, marked failed by recovery`;
    return [{ action: 'mark_failed', runId, reason }];
  }

  const def = JSON.parse(run.def) as ScenarioDef;
  const repairs: Repair[] = [];
  await Promise.all(
    def.steps.map(async ({ id }) => {
      const st = steps[`st|${id}`];
      if (st !== 'queued' && st !== 'retrying' && st !== 'running') return;
      const attempt = Number(steps[`a|${id}`]);
      const lost = await lostJob(queue, stepJobId(runId, id, attempt), legacyStepJobId(runId, id, attempt));
      if (!lost) return;
      if (st === 'running') {
        const workerId = steps[`w|${id}`] ?? '';
        const failed = lost.lost === 'failed';
        repairs.push({
          action: 'retry_step',
          runId,
          stepId: id,
          attempt,
          mode: failed ? 'new_attempt' : 'give_back',
          job: lost.lost,
          reason: failed
            ? `attempt ${attempt} was running on ${workerId || 'a worker'} but its job failed: ${lost.failedReason ?? 'no reason recorded'}`
            : `attempt ${attempt} was running on ${workerId || 'a worker'} but its job is ${lost.lost === 'missing' ? 'gone' : 'completed'}`,
          def,
          workerId,
          startedAt: Number(steps[`ts|${id}`] ?? now),
        });
        return;
      }
      const delayMs = st === 'retrying' ? retryDueIn(await redis.hmget(keys.runAttempts(runId), `${id}|${attempt - 1}`), now) : 0;
      repairs.push({ action: 'resume', runId, stepId: id, attempt, delayMs, job: lost.lost, reason: `step ${st} for attempt ${attempt} but its job is ${lost.lost === 'missing' ? 'missing' : lost.lost}` });
    }),
  );

  const deadlines: { data: DeadlineJobData; at: number }[] = [{ data: { runId }, at: Number(run.deadline) }];
  for (const [field, value] of Object.entries(groups)) {
    const group = field.startsWith('dl|') ? field.slice(3) : undefined;
    if (group && groups[`over|${group}`] !== '1') deadlines.push({ data: { runId, group }, at: Number(value) });
  }
  for (const { data, at } of deadlines) {
    const lost = await lostJob(deadlineQueueOf(queue), deadlineJobId(data));
    if (!lost) continue;
    // An older client's deadline job waits in the step queue.
    if (lost.lost === 'missing' && PRESENT.has(await queue.getJobState(deadlineJobId(data)))) continue;
    const what = data.group ? `group "${data.group}" deadline` : 'run deadline';
    repairs.push({ action: 'resume', runId, deadline: data, delayMs: Math.max(0, at - now), job: lost.lost, reason: `${what} job is ${lost.lost}` });
  }
  return repairs;
}
