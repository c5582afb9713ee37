/**
 * Drill 8 (guardrails): a service concurrency limit and a run budget still hold while
 * workers are being killed. A dead worker's permits and reservations are leases: they
 * lapse, they are never leaked to a second holder while the first may still be running.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, type FailureBundle } from '../../src/engine/bundle.ts';
import type { WorkerProcess } from '../support/workers.ts';
import { killWhile, type Kill } from './chaos.ts';
import { say, scenario, type Drill } from './support.ts';

const STEPS = 16;
const MAX_CONCURRENCY = 2;
const BUDGET_CALLS = 10;

const def = scenario(`
name: guarded-drill
budget: { calls: ${BUDGET_CALLS}, onExceed: fail }
steps:
${Array.from({ length: STEPS }, (_, i) => `  - { id: call${i}, uses: paid-call, service: svc, retry: { attempts: 3 }, with: { ms: 700 } }`).join('\n')}
`);

/**
 * Most calls in flight at one moment, from the handler's own log lines: a call runs from its
 * `call started` to its `call ended`, or to its worker's death when it never ended.
 */
function maxInFlight(bundle: FailureBundle, kills: readonly Kill[]): number {
  const deathOf = new Map(kills.map((k) => [k.workerId, k.at]));
  const edges: [number, number][] = [];
  for (const attempts of Object.values(bundle.logs)) {
    for (const { lines } of attempts) {
      const parsed = lines.map((l) => JSON.parse(l) as { msg: string; time: number; workerId: string });
      parsed.forEach((line, i) => {
        if (line.msg !== 'call started') return;
        const ended = parsed.slice(i + 1).find((x) => x.workerId === line.workerId && x.msg === 'call ended');
        edges.push([line.time, 1], [ended?.time ?? deathOf.get(line.workerId) ?? Infinity, -1]);
      });
    }
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (now += d));
  return max;
}

export const guardrailsUnderKills: Drill = {
  name: 'guardrails-under-kills',
  description: `maxConcurrency ${MAX_CONCURRENCY} and a ${BUDGET_CALLS}-call run budget hold while a worker running a call is killed every ~2s`,
  async run(ctx) {
    const redis = await ctx.redis();
    const dir = await mkdtemp(join(tmpdir(), 'sq-drill-'));
    await writeFile(join(dir, 'services.yaml'), `services:\n  svc: { maxConcurrency: ${MAX_CONCURRENCY} }\n`);
    const applied = await ctx.cli(redis.url, ['services', 'apply', join(dir, 'services.yaml')]);
    ctx.check('services applied', applied.code === 0, applied.stderr.trim());
    const client = await ctx.client(redis.url);
    const start = () => ctx.worker(redis.url, { concurrency: 4 });
    const live: WorkerProcess[] = await Promise.all([start(), start(), start()]);
    const { runId } = await client.enqueue(def);
    say(`  run ${runId}: ${STEPS} paid calls, service limit ${MAX_CONCURRENCY}, budget ${BUDGET_CALLS} calls`);
    const { result: summary, kills } = await killWhile(ctx, client, runId, client.wait(runId), { live, start, everyMs: 2_000, preferBusy: true });
    const bundle = await buildBundle(client.redis, client.keys, runId);
    const overlap = bundle ? maxInFlight(bundle, kills) : Infinity;
    const succeeded = summary.steps.filter((s) => s.status === 'succeeded').length;
    const refused = summary.steps.filter((s) => s.errors.some((e) => e.kind === 'budget_exceeded')).length;
    ctx.check(`never more than ${MAX_CONCURRENCY} calls in flight`, overlap <= MAX_CONCURRENCY, overlap);
    ctx.check(`committed calls within the budget (≤ ${BUDGET_CALLS})`, summary.cost.calls <= BUDGET_CALLS, summary.cost.calls);
    ctx.check('every step either succeeded within the budget or was refused by it', succeeded <= BUDGET_CALLS && succeeded + refused === STEPS, { succeeded, refused });
    ctx.check('workers were killed while calls were in flight', kills.some((k) => k.running.length > 0), kills.map((k) => k.running.length));
    return {
      kills: kills.length,
      callsInterrupted: kills.reduce((n, k) => n + k.running.length, 0),
      maxCallsInFlight: overlap,
      maxConcurrency: MAX_CONCURRENCY,
      committedCalls: summary.cost.calls,
      budgetCalls: BUDGET_CALLS,
      succeeded,
      refusedByBudget: refused,
      verdict: summary.status,
    };
  },
};
