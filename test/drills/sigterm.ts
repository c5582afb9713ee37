/**
 * Drill 6: SIGTERM to a worker with steps in flight. Short steps drain within the grace;
 * long ones are aborted at the grace and given back, so another worker runs them without
 * consuming an attempt. Both workers exit 0.
 */
import type { ScenarioClient } from '../../src/client.ts';
import type { WorkerProcess } from '../support/workers.ts';
import { runEvents, scenario, until, within, type Drill, type DrillContext } from './support.ts';

const parallel = (name: string, ms: number) =>
  scenario(`name: ${name}\nsteps:\n${Array.from({ length: 4 }, (_, i) => `  - { id: s${i}, uses: sleep, timeoutMs: 60000, with: { ms: ${ms} } }`).join('\n')}\n`);

async function terminate(ctx: DrillContext, client: ScenarioClient, url: string, stepMs: number, graceMs: number) {
  const a = await ctx.worker(url, { concurrency: 4, env: { SQ_SHUTDOWN_GRACE_MS: String(graceMs) } });
  const { runId } = await client.enqueue(parallel(`sigterm-${stepMs}`, stepMs));
  await until(async () => (await client.status(runId))?.steps.every((s) => s.status === 'running') ?? false, 30_000, '4 steps running');
  const sent = Date.now();
  a.kill('SIGTERM');
  // The other worker starts only now, so every step was in flight on the terminated one.
  const other = ctx.worker(url, { concurrency: 4 });
  const exit = await within(a.exited, graceMs + 10_000, 'worker exit');
  const exitAfterMs = Date.now() - sent;
  const b: WorkerProcess = await other;
  const summary = await within(client.wait(runId), 60_000, 'run after SIGTERM');
  await b.stop();
  const events = await runEvents(client, runId);
  const finishedBy = new Set(events.filter((e) => e.type === 'step.succeeded').map((e) => (e.workerId === a.workerId ? 'terminated' : e.workerId === b.workerId ? 'other' : e.workerId)));
  return {
    exit,
    exitAfterMs,
    summary,
    givenBack: events.filter((e) => e.type === 'step.queued' && e.data.released === 'shutdown').length,
    attemptsConsumed: summary.steps.reduce((n, s) => n + s.attempts, 0) - summary.steps.length,
    finishedBy: [...finishedBy],
  };
}

export const sigterm: Drill = {
  name: 'sigterm-in-flight',
  description: 'SIGTERM with steps in flight: drained within the grace, or given back and run elsewhere; exit 0',
  async run(ctx) {
    const redis = await ctx.redis();
    const client = await ctx.client(redis.url);

    const drain = await terminate(ctx, client, redis.url, 1_500, 10_000);
    ctx.check('drain: exit code 0', drain.exit.code === 0, drain.exit);
    ctx.check('drain: in-flight steps finished on the terminated worker', drain.summary.status === 'succeeded' && drain.finishedBy.join() === 'terminated', drain.finishedBy);
    ctx.check('drain: nothing given back', drain.givenBack === 0, drain.givenBack);
    ctx.check('drain: exited once its steps were done, within the grace', drain.exitAfterMs > 500 && drain.exitAfterMs < 10_000, drain.exitAfterMs);

    const giveBack = await terminate(ctx, client, redis.url, 8_000, 1_500);
    ctx.check('give back: exit code 0', giveBack.exit.code === 0, giveBack.exit);
    ctx.check('give back: exited within grace + 2 s', giveBack.exitAfterMs < 1_500 + 2_000, giveBack.exitAfterMs);
    ctx.check('give back: all 4 steps given back and run by the other worker', giveBack.givenBack === 4 && giveBack.finishedBy.join() === 'other', { givenBack: giveBack.givenBack, finishedBy: giveBack.finishedBy });
    ctx.check('give back: no attempt consumed, run succeeded', giveBack.attemptsConsumed === 0 && giveBack.summary.status === 'succeeded', giveBack.attemptsConsumed);
    return {
      drain: { graceMs: 10_000, stepMs: 1_500, exitCode: drain.exit.code, exitAfterMs: drain.exitAfterMs, givenBack: drain.givenBack },
      giveBack: { graceMs: 1_500, stepMs: 8_000, exitCode: giveBack.exit.code, exitAfterMs: giveBack.exitAfterMs, givenBack: giveBack.givenBack, attemptsConsumed: giveBack.attemptsConsumed },
    };
  },
};
