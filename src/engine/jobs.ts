import type { JobsOptions, Queue } from 'bullmq';
import type { EnqueueItem } from './store.ts';

/** What a step job carries; everything else is read from Redis by the worker. */
export interface StepJobData {
  runId: string;
  stepId: string;
  attempt: number;
}

export interface DeadlineJobData {
  runId: string;
  group?: string;
}

export const JOB_NAMES = { step: 'step', runDeadline: 'run-deadline', groupDeadline: 'group-deadline' } as const;

const COMMON: JobsOptions = { removeOnComplete: true, removeOnFail: { count: 1000 } };

/** Deterministic: the same attempt of the same step is never enqueued twice. */
export function stepJobId(runId: string, stepId: string, attempt: number): string {
  // '.' occurs in neither run ids nor step ids, so run "r-a" step "b" never meets run "r" step "a-b".
  return `${runId}.${stepId}.${attempt}`;
}

/** Adds the step jobs a state transition asked for, in one round trip. */
export async function enqueueSteps(queue: Queue, runId: string, items: readonly EnqueueItem[]): Promise<void> {
  if (items.length === 0) return;
  await queue.addBulk(
    items.map((i) => ({
      name: JOB_NAMES.step,
      data: { runId, stepId: i.stepId, attempt: i.attempt } satisfies StepJobData,
      opts: { ...COMMON, jobId: stepJobId(runId, i.stepId, i.attempt), ...(i.delayMs > 0 ? { delay: i.delayMs } : {}) },
    })),
  );
}

/** Deterministic too: one deadline job per run and per group. */
export function deadlineJobId(data: DeadlineJobData): string {
  return data.group ? `gdl.${data.runId}.${data.group}` : `rdl.${data.runId}`;
}

/** A delayed job that ends the run (or a group) at its deadline, whichever worker is free. */
export async function scheduleDeadline(queue: Queue, data: DeadlineJobData, delayMs: number): Promise<void> {
  const name = data.group ? JOB_NAMES.groupDeadline : JOB_NAMES.runDeadline;
  await queue.add(name, data, { ...COMMON, jobId: deadlineJobId(data), delay: Math.max(0, delayMs) });
}
