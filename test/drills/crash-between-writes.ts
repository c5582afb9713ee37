/**
 * Drill 4: a worker dies between "step finished" (committed by the state script) and
 * "next steps enqueued" (BullMQ jobs). `recover --dry-run` reports the repair and changes
 * nothing; the reaper then resumes the run — at a worker's start, and on its interval.
 */
import { Queue } from 'bullmq';
import { STEP_QUEUE } from '../../src/redis/keys.ts';
import { stepJobId } from '../../src/engine/jobs.ts';
import type { RecoveryReport } from '../../src/recovery/report.ts';
import { finishWithoutEnqueue } from '../support/crash.ts';
import { runEvents, say, scenario, until, within, type Drill } from './support.ts';

const def = scenario(`
name: crash-drill
steps:
  - { id: a, uses: echo, with: { v: 1 } }
  - { id: b, uses: echo, needs: [a], with: { from: "{{ steps.a.output.v }}" } }
  - { id: c, uses: sleep, needs: [a], with: { ms: 200 } }
  - { id: d, uses: assert, needs: [b, c], with: { that: "steps.b.output.from == 1" } }
`);
const INTERVAL_MS = 3_000;

export const crashBetweenWrites: Drill = {
  name: 'crash-between-writes',
  description: 'a worker dies after committing a step and before enqueueing the steps it made ready',
  async run(ctx) {
    const redis = await ctx.redis();
    const client = await ctx.client(redis.url);
    const queue = new Queue(STEP_QUEUE, { connection: client.redis, prefix: client.keys.prefix });
    ctx.onDispose(() => queue.close());
    const jobsOf = async (runId: string) => Promise.all(['b', 'c'].map((s) => queue.getJobState(stepJobId(runId, s, 1))));

    // 1. Crash with no worker alive; dry run first.
    const { runId: first } = await client.enqueue(def);
    const stranded = await finishWithoutEnqueue(client.redis, client.keys, queue, first, 'a', { v: 1 });
    say(`  ${first}: a committed, ${stranded.join(' and ')} ready without jobs`);
    const before = await client.redis.hgetall(client.keys.runSteps(first));
    const dry = await ctx.cli(redis.url, ['recover', '--dry-run', '--json']);
    const dryReport = JSON.parse(dry.stdout || '{}') as Partial<RecoveryReport>;
    ctx.check('recover --dry-run reports the 2 resumes', dry.code === 0 && dryReport.resumed === 2 && dryReport.dryRun === true, { code: dry.code, resumed: dryReport.resumed });
    ctx.check('recover --dry-run changes nothing', JSON.stringify(await client.redis.hgetall(client.keys.runSteps(first))) === JSON.stringify(before) && (await jobsOf(first)).every((s) => s === 'unknown'), await jobsOf(first));

    // 2. A worker starts: its start pass resumes the run.
    const startedAt = Date.now();
    const worker = await ctx.worker(redis.url, { env: { SQ_RECOVERY_INTERVAL_MS: String(INTERVAL_MS) } });
    const firstSummary = await within(client.wait(first), 30_000, 'run resumed at worker start');
    const firstEvents = await runEvents(client, first);
    const resumedAt = firstEvents.filter((e) => e.type === 'recovery.action').map((e) => e.ts);
    ctx.check('run resumed at worker start succeeds', firstSummary.status === 'succeeded', firstSummary.status);
    ctx.check('the start pass resumed b and c', resumedAt.length === 2, firstEvents.filter((e) => e.type === 'recovery.action').map((e) => [e.stepId, e.data.action]));

    // 3. The same crash while the worker runs: its interval pass resumes the run.
    await queue.pause();
    const { runId: second } = await client.enqueue(def);
    await finishWithoutEnqueue(client.redis, client.keys, queue, second, 'a', { v: 1 });
    await queue.resume();
    const crashedAt = Date.now();
    const secondSummary = await within(client.wait(second), 30_000, 'run resumed by the interval pass');
    const secondEvents = await runEvents(client, second);
    const repair = secondEvents.find((e) => e.type === 'recovery.action');
    ctx.check('run crashed under a live worker succeeds', secondSummary.status === 'succeeded', secondSummary.status);
    ctx.check('the interval pass resumed it', repair !== undefined && repair.workerId === worker.workerId, repair?.workerId);
    await until(async () => (await client.redis.get(client.keys.recovery.last)) !== null, 5_000, 'last report kept');
    return {
      dryRunResumed: dryReport.resumed,
      resumedAtStartAfterMs: resumedAt.length > 0 ? Math.min(...resumedAt) - startedAt : null,
      resumedOnIntervalAfterMs: repair ? repair.ts - crashedAt : null,
      recoveryIntervalMs: INTERVAL_MS,
    };
  },
};
