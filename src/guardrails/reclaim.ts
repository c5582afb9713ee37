/**
 * Reaper hooks (SPEC §13): free what dead workers left held. The admission script counts only
 * live entries and drops lapsed ones now and then (every 16th admission of a service; about one
 * admission in 16 for reservations); these clean pools nobody looks at (an idle service, a
 * finished run), so what a crash left is gone within a reaper pass either way.
 */
import type { Reclaimer, ReclaimContext } from '../recovery/reclaim.ts';
import { loadServices } from './services-store.ts';

/** Removes (or, dry, counts) entries whose lease expired before `now`. */
async function lapse(ctx: ReclaimContext, zsets: readonly string[]): Promise<number> {
  let n = 0;
  for (const key of zsets) {
    n += ctx.dryRun ? await ctx.redis.zcount(key, '-inf', ctx.now) : await ctx.redis.zremrangebyscore(key, '-inf', ctx.now);
  }
  return n;
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The guardrails' reclaimers: service permits, half-open probes, budget reservations. */
export function guardrailReclaimers(): Reclaimer[] {
  return [
    {
      name: 'service-permits',
      async reclaim(ctx) {
        const services = Object.keys((await loadServices(ctx.redis, ctx.keys)).services);
        return lapse(ctx, [ctx.keys.guard.permits, ...services.map((s) => ctx.keys.guard.service(s).permits)]);
      },
    },
    {
      name: 'half-open-probes',
      async reclaim(ctx) {
        const services = Object.keys((await loadServices(ctx.redis, ctx.keys)).services);
        return lapse(ctx, services.map((s) => ctx.keys.guard.service(s).probes));
      },
    },
    {
      name: 'budget-reservations',
      async reclaim(ctx) {
        const runIds = await ctx.redis.zrange(ctx.keys.activeRuns, 0, -1);
        const suites = new Set<string>();
        for (const runId of runIds) {
          const suite = await ctx.redis.hget(ctx.keys.run(runId), 'suite');
          if (suite) suites.add(suite);
        }
        const g = ctx.keys.guard;
        return lapse(ctx, [
          ...runIds.map((id) => g.run(id).reservations),
          ...[...suites].map((id) => g.suite(id).reservations),
          g.daily(utcDay(ctx.now)).reservations,
          g.daily(utcDay(ctx.now - 86_400_000)).reservations,
        ]);
      },
    },
  ];
}
