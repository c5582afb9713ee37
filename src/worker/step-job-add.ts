/**
 * BullMQ's own `addStandardJob` call for a step job, made without sending it: the fused
 * completion (src/worker/fused-completion.ts) adds a chain's next step in the same script that
 * finishes this one and hands the slot its next job. The call is made by BullMQ's code
 * (`Job#addJob`, which encodes the job as `Queue#addBulk` would) on a client that only records
 * it, so what the script adds is what `enqueueSteps` would have added, byte for byte, but for
 * the job's timestamp (test/integration/step-job-add.test.ts compares the two).
 */
import { Job, type Queue } from 'bullmq';
import { stepJobId, stepJobName, type StepJobHint, type StepJobWire } from '../engine/jobs.ts';

/** What BullMQ would send: its script (`addStandardJob:<version>`), its 9 keys, then 3 arguments. */
export interface RecordedAdd {
  readonly command: string;
  readonly keys: readonly string[];
  readonly args: readonly unknown[];
}

/** addStandardJob takes 9 keys (the queue's), then packed arguments, the data and the packed options. */
export const ADD_STANDARD_JOB_KEYS = 9;

/** A client that records the one script call BullMQ makes on it and answers the job's id. */
class Recorder {
  recorded: { command: string; argv: unknown[] } | undefined;
  constructor(private readonly jobId: string) {}
  runCommand(command: string, argv: unknown[]): Promise<string> {
    this.recorded = { command, argv };
    return Promise.resolve(this.jobId);
  }
}

/**
 * The call that adds attempt `attempt` of step `stepId` of run `runId`, as `enqueueSteps`
 * would add it (no delay); undefined when BullMQ would use a script other than
 * addStandardJob for it (queue default options with a delay or a priority, say).
 */
export function recordStepAdd(queue: Queue, runId: string, stepId: string, attempt: number, hint: StepJobHint | undefined): RecordedAdd | undefined {
  const jobId = stepJobId(runId, stepId, attempt);
  const data: StepJobWire = [runId, stepId, attempt];
  const recorder = new Recorder(jobId);
  try {
    // The options as Queue#addBulk merges them.
    const job = new Job(queue, stepJobName(hint), data, { ...queue.jobsOpts, jobId, telemetry: undefined }, jobId);
    // Job#addJob encodes synchronously and calls runCommand before its first await.
    job.addJob(recorder as never).catch(() => undefined);
  } catch {
    // Options BullMQ refuses (validateOptions throws before any await): enqueueSteps adds it, and says why.
    return undefined;
  }
  const recorded = recorder.recorded;
  if (!recorded || !recorded.command.startsWith('addStandardJob:') || recorded.argv.length !== ADD_STANDARD_JOB_KEYS + 3) return undefined;
  return { command: recorded.command, keys: recorded.argv.slice(0, ADD_STANDARD_JOB_KEYS) as string[], args: recorded.argv.slice(ADD_STANDARD_JOB_KEYS) };
}
