/**
 * The kill loop shared by drills: every ~`everyMs` it SIGKILLs a random live worker (noting
 * which steps were running on it) and starts a replacement at once, until the run is over.
 */
import { Queue } from 'bullmq';
import type { ScenarioClient } from '../../src/client.ts';
import { STEP_QUEUE } from '../../src/redis/keys.ts';
import { stepJobId } from '../../src/engine/jobs.ts';
import type { WorkerProcess } from '../support/workers.ts';
import { say, sleep, type DrillContext } from './support.ts';

export interface Kill {
  at: number;
  workerId: string;
  /** Steps running on the killed worker just before the kill. */
  running: { stepId: string; attempt: number }[];
}

/** Kills and restarts workers while `running` is pending; resolves with every kill once it settles. */
export async function killWhile<T>(
  ctx: DrillContext,
  client: ScenarioClient,
  runId: string,
  running: Promise<T>,
  workers: { live: WorkerProcess[]; start: () => Promise<WorkerProcess>; everyMs: number; preferBusy?: boolean },
): Promise<{ result: T; kills: Kill[] }> {
  const { live, start, everyMs } = workers;
  const kills: Kill[] = [];
  const restarts: Promise<unknown>[] = [];
  let done = false;
  const settled = running.finally(() => {
    done = true;
  });
  const stopProgress = reportProgress(ctx, client, runId);
  try {
    while (!done && !ctx.signal.aborted) {
      await Promise.race([sleep(everyMs * (0.75 + Math.random() * 0.5)), settled.catch(() => {})]);
      if (done || live.length === 0) continue;
      let steps = await client.redis.hgetall(client.keys.runSteps(runId));
      const runningOn = (w: WorkerProcess) =>
        Object.keys(steps)
          .filter((f) => f.startsWith('st|') && steps[f] === 'running' && steps[`w|${f.slice(3)}`] === w.workerId)
          .map((f) => ({ stepId: f.slice(3), attempt: Number(steps[`a|${f.slice(3)}`]) }));
      // With preferBusy, a worker that has steps running is chosen when there is one. Until a
      // kill has landed on work in flight, a kill that finds none (a call ended, the next waits
      // for its permit) waits up to another interval for one: the drill must kill a call at
      // least once, but killing every call would starve the run.
      let busy = workers.preferBusy ? live.filter((w) => runningOn(w).length > 0) : [];
      const mustLand = workers.preferBusy && kills.every((k) => k.running.length === 0);
      for (const until = Date.now() + everyMs; mustLand && busy.length === 0 && !done && Date.now() < until; ) {
        await sleep(25);
        steps = await client.redis.hgetall(client.keys.runSteps(runId));
        busy = live.filter((w) => runningOn(w).length > 0);
      }
      if (done) continue;
      const pool = busy.length > 0 ? busy : live;
      const victim = pool[Math.floor(Math.random() * pool.length)];
      live.splice(live.indexOf(victim), 1);
      const onVictim = runningOn(victim);
      victim.kill('SIGKILL');
      kills.push({ at: Date.now(), workerId: victim.workerId, running: onVictim });
      say(`  kill #${kills.length}: ${victim.workerId} with ${onVictim.length} step(s) running`);
      restarts.push(
        start().then(
          (w) => void live.push(w),
          (err: unknown) => say(`  restart failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`),
        ),
      );
    }
    const result = await settled;
    await Promise.allSettled(restarts);
    return { result, kills };
  } finally {
    stopProgress();
  }
}

/** Step counts every 10 s; after an interval without progress, the open steps and their jobs. */
function reportProgress(ctx: DrillContext, client: ScenarioClient, runId: string): () => void {
  const began = Date.now();
  let lastDone = -1;
  const timer = setInterval(() => {
    void client.status(runId).then(async (st) => {
      const counts: Record<string, number> = {};
      for (const step of st?.steps ?? []) counts[step.status] = (counts[step.status] ?? 0) + 1;
      say(`  progress after ${Math.round((Date.now() - began) / 1000)}s: ${JSON.stringify(counts)}`);
      if (counts.succeeded === lastDone) {
        const open = (st?.steps ?? []).filter((x) => x.status === 'queued' || x.status === 'running' || x.status === 'retrying');
        const queue = new Queue(STEP_QUEUE, { connection: client.redis, prefix: client.keys.prefix });
        const states = await Promise.all(open.map(async (x) => `${x.id}:${x.status}/${x.attempts}:${await queue.getJobState(stepJobId(runId, x.id, Math.max(1, x.attempts)))}`));
        await queue.close();
        say(`  no progress; open steps: ${states.join(' ')}`);
      }
      lastDone = counts.succeeded ?? 0;
    });
  }, 10_000);
  const stop = () => clearInterval(timer);
  ctx.signal.addEventListener('abort', stop);
  return stop;
}
