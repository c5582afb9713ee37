/**
 * Drill 7: a run older than SQ_RECOVERY_MAX_AGE_MS is marked failed with a reason;
 * `recover --dry-run` first reports it and changes nothing.
 */
import { parseEvent } from '../../src/engine/events.ts';
import type { RecoveryReport } from '../../src/recovery/report.ts';
import { scenario, sleep, type Drill } from './support.ts';

const MAX_AGE_MS = 1_000;

export const maxAge: Drill = {
  name: 'max-age',
  description: 'a run older than the max age is marked failed; --dry-run first reports and changes nothing',
  async run(ctx) {
    const redis = await ctx.redis();
    const client = await ctx.client(redis.url);
    const { runId } = await client.enqueue(scenario('name: forgotten\nsteps:\n  - { id: a, uses: noop }\n  - { id: b, uses: noop, needs: [a] }\n'));
    await sleep(MAX_AGE_MS + 200);
    const env = { SQ_RECOVERY_MAX_AGE_MS: String(MAX_AGE_MS) };
    const snapshot = async () => JSON.stringify([await client.redis.hgetall(client.keys.run(runId)), await client.redis.hgetall(client.keys.runSteps(runId))]);
    const before = await snapshot();

    const dry = await ctx.cli(redis.url, ['recover', '--dry-run', '--json'], env);
    const dryReport = JSON.parse(dry.stdout || '{}') as Partial<RecoveryReport>;
    ctx.check('dry run reports the run as to be marked failed', dry.code === 0 && dryReport.markedFailed === 1 && dryReport.actions?.[0]?.runId === runId, dryReport);
    ctx.check('dry run changes nothing', (await snapshot()) === before && (await client.status(runId))?.status === 'queued');

    const real = await ctx.cli(redis.url, ['recover', '--json'], env);
    const report = JSON.parse(real.stdout || '{}') as Partial<RecoveryReport>;
    const summary = await client.status(runId);
    ctx.check('recover marks it failed', real.code === 0 && report.markedFailed === 1 && summary?.status === 'failed', { code: real.code, status: summary?.status });
    ctx.check('with a reason naming the limit', /older than SQ_RECOVERY_MAX_AGE_MS/.test(summary?.reason ?? ''), summary?.reason);
    const events = (await client.redis.xrange(client.keys.globalEvents, '-', '+')).map(([id, f]) => parseEvent(id, f)).filter((e) => e.type.startsWith('recovery.'));
    ctx.check('recovery.* events published', events.map((e) => e.type).join() === 'recovery.started,recovery.action,recovery.completed', events.map((e) => e.type));
    const text = await ctx.cli(redis.url, ['recover'], env);
    ctx.check('a later pass has nothing left to do', text.code === 0 && /scanned 0 active runs/.test(text.stdout), text.stdout.trim());
    return { maxAgeMs: MAX_AGE_MS, dryRunMarkedFailed: dryReport.markedFailed, markedFailed: report.markedFailed, reason: summary?.reason, stepStatuses: summary?.steps.map((s) => s.status) };
  },
};
