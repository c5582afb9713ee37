/**
 * Drill 1: kill -9 a random worker every ~2 s during a 300-step run on 3 workers, each
 * restarted at once. The run must succeed with every step's success recorded exactly once;
 * figures: kills, steps interrupted, and how long an interrupted step took to start again.
 */
import type { WorkerProcess } from '../support/workers.ts';
import { killWhile } from './chaos.ts';
import { checkCleanSuccess, layeredScenario, percentile, runEvents, say, type Drill } from './support.ts';

const STEPS = 300;
const WORKERS = 3;
const KILL_EVERY_MS = 2_000;

export const killWorkers: Drill = {
  name: 'kill-9-workers',
  description: `kill -9 a random worker every ~${KILL_EVERY_MS / 1000}s during a ${STEPS}-step run on ${WORKERS} workers`,
  async run(ctx) {
    const redis = await ctx.redis();
    const client = await ctx.client(redis.url);
    const start = () => ctx.worker(redis.url, { concurrency: 4 });
    const live: WorkerProcess[] = await Promise.all(Array.from({ length: WORKERS }, start));
    // Layers of 50 steps, each needing two of the layer before, 12 in flight (3 workers x 4);
    // steps of 0.3-0.7 s with retries for real faults (a kill must not consume an attempt).
    const def = layeredScenario('kill-drill', STEPS, 50, (i) => `uses: fault, retry: { attempts: 3 }, with: { hangMs: ${300 + ((i * 37) % 400)}, output: { i: ${i} } }`, 12);
    const began = Date.now();
    const { runId } = await client.enqueue(def);
    say(`  run ${runId}: ${STEPS} steps on ${WORKERS} workers`);

    const { result: summary, kills } = await killWhile(ctx, client, runId, client.wait(runId), { live, start, everyMs: KILL_EVERY_MS });
    const durationMs = Date.now() - began;
    const events = await runEvents(client, runId);

    // Recovery: from the kill to the step's next start on another worker.
    const recoveries: number[] = [];
    let finishedBeforeKill = 0;
    for (const kill of kills) {
      for (const { stepId } of kill.running) {
        const next = events.find((e) => e.type === 'step.started' && e.stepId === stepId && e.ts >= kill.at);
        if (next) recoveries.push(next.ts - kill.at);
        else finishedBeforeKill++;
      }
    }
    checkCleanSuccess(ctx, summary, events);
    ctx.check('workers were killed during the run', kills.length >= 5, kills.length);
    const interrupted = recoveries.length;
    ctx.check('interrupted steps started again', interrupted > 0, interrupted);
    const p50 = percentile(recoveries, 50);
    const max = percentile(recoveries, 100);
    ctx.check('a killed worker’s step starts again within seconds (max < 15 s)', max !== null && max < 15_000, max);
    const extraAttempts = summary.steps.reduce((n, s) => n + s.attempts - 1, 0);
    return {
        steps: STEPS,
        workers: WORKERS,
        kills: kills.length,
        stepsInterrupted: interrupted,
        interruptedButFinishedFirst: finishedBeforeKill,
        recoveryMs: { p50, max, samples: interrupted },
        runDurationMs: durationMs,
        restartsSeen: events.filter((e) => e.type === 'step.started' && e.data.restart === true).length,
        attemptsBeyondFirst: extraAttempts,
        recoveryActions: events.filter((e) => e.type === 'recovery.action').length,
    };
  },
};
