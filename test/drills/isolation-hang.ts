/**
 * Drill 5: a handler that hangs and ignores its signal — it blocks its event loop — runs
 * with `isolation: process`: its process is killed at the timeout, the attempt is
 * timed_out, and the retry runs (and succeeds) in a fresh process while the worker kept
 * serving other steps.
 */
import { buildBundle } from '../../src/engine/bundle.ts';
import { alive, scenario, within, type Drill } from './support.ts';

const TIMEOUT_MS = 2_000;
const def = scenario(`
name: isolation-drill
steps:
  - id: stuck
    uses: spin
    isolation: process
    timeoutMs: ${TIMEOUT_MS}
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 100, jitter: none } }
    with: { ms: 3600000, spinTimes: 1 }
  - { id: beside, uses: sleep, with: { ms: 300 } }
`);

export const isolationHang: Drill = {
  name: 'isolation-hang',
  description: 'a handler that blocks and ignores its signal, with isolation: process, is killed at its timeout and retried',
  async run(ctx) {
    const redis = await ctx.redis();
    const client = await ctx.client(redis.url);
    const worker = await ctx.worker(redis.url, { concurrency: 2 });
    const began = Date.now();
    const { runId } = await client.enqueue(def);
    const summary = await within(client.wait(runId), 60_000, 'isolation run');
    const [stuck, beside] = summary.steps;
    const bundle = await buildBundle(client.redis, client.keys, runId);
    const pids = (bundle?.checkpoints.stuck ?? []).map((c) => (c.data as { pid: number }).pid);
    const firstAttempt = bundle?.attempts.stuck?.[0];
    const killedAfterMs = firstAttempt ? firstAttempt.finishedAt - firstAttempt.startedAt : null;
    ctx.check('run succeeded', summary.status === 'succeeded', summary.status);
    ctx.check('attempt 1 timed out, attempt 2 succeeded', stuck.attempts === 2 && stuck.status === 'succeeded' && stuck.errors[0]?.kind === 'timeout', stuck);
    ctx.check('killed at the timeout (within 1 s of it)', killedAfterMs !== null && killedAfterMs >= TIMEOUT_MS - 50 && killedAfterMs < TIMEOUT_MS + 1_000, killedAfterMs);
    ctx.check('the hung handler process is gone', pids.length === 2 && !alive(pids[0]) && pids[0] !== worker.pid, pids);
    ctx.check('the worker kept serving other steps meanwhile', Date.parse(beside.finishedAt ?? '') - began < TIMEOUT_MS, beside.finishedAt);
    return { timeoutMs: TIMEOUT_MS, killedAfterMs, attempts: stuck.attempts, firstAttemptError: stuck.errors[0]?.message, handlerPids: pids, workerPid: worker.pid };
  },
};
