/**
 * Drill 2: Redis (AOF on) restarted mid-run. The same worker processes reconnect without
 * being restarted, and the run succeeds with every step recorded once.
 */
import { alive, checkCleanSuccess, layeredScenario, runEvents, say, sleep, until, within, type Drill } from './support.ts';

const DOWN_MS = 3_000;

export const redisRestart: Drill = {
  name: 'redis-restart',
  description: `Redis with AOF stopped mid-run and started again ${DOWN_MS / 1000}s later; workers reconnect by themselves`,
  async run(ctx) {
    const redis = await ctx.redis({ appendonly: true });
    const client = await ctx.client(redis.url);
    const workers = await Promise.all([ctx.worker(redis.url), ctx.worker(redis.url)]);
    const def = layeredScenario('restart-drill', 60, 8, (i) => `uses: fault, with: { hangMs: ${300 + ((i * 53) % 300)}, output: { i: ${i} } }`);
    const { runId } = await client.enqueue(def);
    const finished = client.wait(runId);
    const succeededSoFar = async () => (await client.status(runId))?.steps.filter((s) => s.status === 'succeeded').length ?? 0;
    await until(async () => (await succeededSoFar()) >= 15, 60_000, '15 steps done before the restart');
    const before = await succeededSoFar();
    const down = Date.now();
    // Stopped (Redis fsyncs its AOF), down for a while as in a real restart, then started again.
    await redis.stop();
    await sleep(DOWN_MS);
    await redis.restart();
    const downtimeMs = Date.now() - down;
    say(`  redis restarted (pid ${redis.pid}) after ${before} steps; down ${downtimeMs}ms`);
    const summary = await within(finished, 90_000, 'run after restart');
    const events = await runEvents(client, runId);
    checkCleanSuccess(ctx, summary, events);
    const exited = workers.filter((w) => w.lines().length > 0 && !alive(w.pid));
    ctx.check('no worker process exited or was restarted', exited.length === 0, exited.map((w) => w.pid));
    const after = events.filter((e) => e.type === 'step.succeeded' && e.ts > down + downtimeMs);
    const ran = new Set(after.map((e) => e.workerId));
    ctx.check('the same workers ran steps after the restart', workers.every((w) => ran.has(w.workerId)), [...ran]);
    const firstAfter = after.length > 0 ? Math.min(...after.map((e) => e.ts)) - (down + downtimeMs) : null;
    return { steps: def.steps.length, stepsBeforeRestart: before, redisDowntimeMs: downtimeMs, firstStepAfterRestartMs: firstAfter, workersRestarted: exited.length };
  },
};

