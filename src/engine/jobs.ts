import { createHash } from 'node:crypto';
import { Queue, type JobsOptions, type WorkerOptions } from 'bullmq';
import { DEADLINE_QUEUE } from '../redis/keys.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import { plainHandlerOf, type EnqueueItem } from './store.ts';

/** What a step job carries; everything else is read from Redis by the worker. */
export interface StepJobData {
  runId: string;
  stepId: string;
  attempt: number;
}

/**
 * A step job's data as stored: `[runId, stepId, attempt]`. Short on purpose, like the job's id
 * and options: while every field of BullMQ's job hash is at most 64 bytes (Redis's
 * hash-max-listpack-value) the hash is a listpack, which every script that reads or moves the
 * job handles with less work than a hash table. That holds for a run id and a step id of up to
 * 54 characters together; longer ones still work, in a hash table.
 */
export type StepJobWire = [runId: string, stepId: string, attempt: number];

/**
 * A step job's data as the worker reads it: made with `new`, not as an object literal, because
 * V8 may allocate a literal straight in the old generation once its site looks long-lived
 * (allocation-site pretenuring), and one there kept the young job it joins alive through every
 * scavenge (docs/performance.md, "The worker's young generation").
 */
class StepJobFields implements StepJobData {
  constructor(
    public runId: string,
    public stepId: string,
    public attempt: number,
  ) {}
}

/** A step job's data, as stored now or as versions before the short form stored it; undefined if neither. */
export function stepJobData(data: unknown): StepJobData | undefined {
  const old = data as Partial<StepJobData> | null;
  const [runId, stepId, attempt] = Array.isArray(data) ? (data as unknown[]) : [old?.runId, old?.stepId, old?.attempt];
  return typeof runId === 'string' && typeof stepId === 'string' && typeof attempt === 'number' ? new StepJobFields(runId, stepId, attempt) : undefined;
}

export interface DeadlineJobData {
  runId: string;
  group?: string;
}

export const JOB_NAMES = { step: 'step', runDeadline: 'run-deadline', groupDeadline: 'group-deadline' } as const;

/**
 * What a step job's name may say of its step beyond `step`: the handler of a plain step
 * (store.ts plainHandlerOf) and its group. Both are fixed when the run is created.
 */
export interface StepJobHint {
  /** plainHandlerOf(step): '' for a step whose claim needs JavaScript first. */
  plainHandler: string;
  /** The step's group, '' for none. */
  group: string;
}

/**
 * A step job's name: `step`, or `step:<handler>` / `step:<handler>:<group>` for a plain step.
 * The worker's fused completion claims a job as BullMQ hands it over when its step is plain;
 * read from the name (which it has already), that costs no read of the run's dag hash, ~1 %
 * of Redis's work per step. Handler names hold no ':' (HANDLER_NAME_PATTERN), groups neither.
 */
export function stepJobName(hint: StepJobHint | undefined): string {
  if (!hint || hint.plainHandler === '') return JOB_NAMES.step;
  return hint.group === '' ? `${JOB_NAMES.step}:${hint.plainHandler}` : `${JOB_NAMES.step}:${hint.plainHandler}:${hint.group}`;
}

/** The hints of a scenario's steps, made once per scenario definition. */
const hintsByDef = new WeakMap<ScenarioDef, Map<string, StepJobHint>>();

/** `enqueueSteps`'s hint for the steps of `def`. */
export function stepHints(def: ScenarioDef): (stepId: string) => StepJobHint | undefined {
  let hints = hintsByDef.get(def);
  if (!hints) {
    hints = new Map(def.steps.map((step) => [step.id, { plainHandler: plainHandlerOf(step), group: step.group ?? '' }]));
    hintsByDef.set(def, hints);
  }
  const found = hints;
  return (stepId) => found.get(stepId);
}

/** Whether a job is a step job, by its name (stepJobName). */
export function isStepJobName(name: string): boolean {
  return name === JOB_NAMES.step || name.startsWith(`${JOB_NAMES.step}:`);
}

/**
 * What becomes of finished jobs: completed ones go, the last 1000 failed ones stay. Step jobs
 * leave it to the worker's options (src/worker/worker.ts), which BullMQ applies to a job whose
 * own options say nothing: a step job's stored options stay short (StepJobWire says why).
 */
export const KEEP_JOBS = { removeOnComplete: { count: 0 }, removeOnFail: { count: 1000 } } satisfies JobsOptions & Partial<WorkerOptions>;

/**
 * Deterministic: the same attempt of the same step is never enqueued twice. 96 bits of a hash
 * of run and step (the data names both), so that the id stays short whatever their length.
 */
export function stepJobId(runId: string, stepId: string, attempt: number): string {
  // '.' occurs in neither run ids nor step ids, so run "r-a" step "b" never meets run "r" step "a-b".
  return `${createHash('sha1').update(`${runId}.${stepId}`).digest('base64url').slice(0, 16)}.${attempt}`;
}

/** The id versions before the short form gave a step job: recovery still finds such a job during an upgrade. */
export function legacyStepJobId(runId: string, stepId: string, attempt: number): string {
  return `${runId}.${stepId}.${attempt}`;
}

/**
 * Adds the step jobs a state transition asked for, in one round trip. `hint` names a step's
 * plain handler and group where the caller has the scenario (stepJobName); without it a job is
 * named `step` and the worker reads the same in Redis.
 */
export async function enqueueSteps(queue: Queue, runId: string, items: readonly EnqueueItem[], hint?: (stepId: string) => StepJobHint | undefined): Promise<void> {
  if (items.length === 0) return;
  await queue.addBulk(
    items.map((i) => ({
      name: stepJobName(hint?.(i.stepId)),
      data: [runId, i.stepId, i.attempt] satisfies StepJobWire,
      opts: { jobId: stepJobId(runId, i.stepId, i.attempt), ...(i.delayMs > 0 ? { delay: i.delayMs } : {}) },
    })),
  );
}

/** Deterministic too: one deadline job per run and per group. */
export function deadlineJobId(data: DeadlineJobData): string {
  return data.group ? `gdl.${data.runId}.${data.group}` : `rdl.${data.runId}`;
}

const deadlineQueues = new WeakMap<Queue, Queue>();

/**
 * The deadline queue (DEADLINE_QUEUE) beside `steps`, a step queue: same connection and
 * prefix, made once per step queue. Close it with closeDeadlineQueue.
 */
export function deadlineQueueOf(steps: Queue): Queue {
  let queue = deadlineQueues.get(steps);
  if (!queue) {
    queue = new Queue(DEADLINE_QUEUE, { connection: steps.opts.connection, prefix: steps.opts.prefix });
    queue.on('error', () => {}); // reported by the calls that fail
    deadlineQueues.set(steps, queue);
  }
  return queue;
}

/** Closes the deadline queue made for `steps`, if one was. */
export async function closeDeadlineQueue(steps: Queue): Promise<void> {
  const queue = deadlineQueues.get(steps);
  deadlineQueues.delete(steps);
  await queue?.close();
}

/**
 * A delayed job that ends the run (or a group) at its deadline, whichever worker is free. It
 * goes to the deadline queue beside `steps`, the step queue (DEADLINE_QUEUE says why).
 */
export async function scheduleDeadline(steps: Queue, data: DeadlineJobData, delayMs: number): Promise<void> {
  const name = data.group ? JOB_NAMES.groupDeadline : JOB_NAMES.runDeadline;
  await deadlineQueueOf(steps).add(name, data, { ...KEEP_JOBS, jobId: deadlineJobId(data), delay: Math.max(0, delayMs) });
}
