/**
 * Spend per scope and per service for the run summary (SPEC §9, §15): the run's and its
 * suite's budget (limits, committed spend) and the cost of its steps grouped by service.
 */
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { BudgetScopeSummary, CostTotals, StepSummary } from '../engine/types.ts';

/** The raw budget hashes of a run and of its suite. */
export interface BudgetHashes {
  run: Record<string, string>;
  suite?: Record<string, string>;
}

/** Reads the run's (and its suite's) budget hash. */
export async function readBudgetHashes(redis: RedisConnection, keys: Keys, runId: string, suite?: string): Promise<BudgetHashes> {
  const [run, suiteHash] = await Promise.all([redis.hgetall(keys.guard.run(runId).budget), suite ? redis.hgetall(keys.guard.suite(suite).budget) : undefined]);
  return { run, suite: suiteHash };
}

function scopeOf(scope: 'run' | 'suite', hash: Record<string, string> | undefined, id?: string): BudgetScopeSummary | undefined {
  if (!hash || !Object.keys(hash).some((k) => k.startsWith('limit:'))) return undefined;
  const limit = (r: string) => (hash[`limit:${r}`] === undefined ? undefined : Number(hash[`limit:${r}`]));
  const limits: BudgetScopeSummary['limits'] = {};
  if (limit('usd') !== undefined) limits.usd = (limit('usd') as number) / 1e6;
  if (limit('tokens') !== undefined) limits.tokens = limit('tokens');
  if (limit('calls') !== undefined) limits.calls = limit('calls');
  return {
    scope,
    ...(id ? { id } : {}),
    limits,
    onExceed: hash['limit:onExceed'] === 'warn' ? 'warn' : 'fail',
    spent: { usd: Number(hash['spent:usd'] ?? 0) / 1e6, tokens: Number(hash['spent:tokens'] ?? 0), calls: Number(hash['spent:calls'] ?? 0) },
  };
}

/** The budget scopes that have limits, run first. */
export function budgetScopes(hashes: BudgetHashes | undefined, suite?: string): BudgetScopeSummary[] {
  return [scopeOf('run', hashes?.run), scopeOf('suite', hashes?.suite, suite)].filter((s): s is BudgetScopeSummary => s !== undefined);
}

/** Step costs added up per service; undefined when no step with a service cost anything. */
export function costByService(steps: readonly StepSummary[]): Record<string, CostTotals> | undefined {
  const out: Record<string, CostTotals> = {};
  for (const step of steps) {
    if (!step.service || !step.cost) continue;
    const total = (out[step.service] ??= { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 });
    total.usd = Math.round((total.usd + step.cost.usd) * 1e6) / 1e6;
    total.tokens.input += step.cost.tokens.input;
    total.tokens.output += step.cost.tokens.output;
    total.calls += step.cost.calls;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
