import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import type { AttemptRecord } from './store.ts';
import type { AttemptError, CostTotals, RunStatus, RunSummary, StepStatus, StepSummary } from './types.ts';
import type { ErrorKind } from '../errors.ts';
import { budgetScopes, costByService, readBudgetHashes, type BudgetHashes } from '../guardrails/budget-summary.ts';

const iso = (ms: string | undefined) => (ms ? new Date(Number(ms)).toISOString() : undefined);

/** Everything stored about one run, read in one round trip. */
export interface RunSnapshot {
  run: Record<string, string>;
  steps: Record<string, string>;
  attempts: Record<string, string>;
  def: ScenarioDef;
  input: Record<string, unknown>;
  /** Budget hashes of the run and its suite (guardrails). */
  budgets?: BudgetHashes;
}

/** Reads a run; undefined when it does not exist (or has expired). */
export async function readRun(redis: RedisConnection, keys: Keys, runId: string): Promise<RunSnapshot | undefined> {
  const res = await redis
    .multi()
    .hgetall(keys.run(runId))
    .hgetall(keys.runSteps(runId))
    .hgetall(keys.runAttempts(runId))
    .exec();
  const [run, steps, attempts] = (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v as Record<string, string>;
  });
  if (!run || !run.status) return undefined;
  const budgets = await readBudgetHashes(redis, keys, runId, run.suite);
  const def = JSON.parse(run.def) as ScenarioDef;
  return { run, steps, attempts: withSucceededRecords(attempts, steps, def), def, input: JSON.parse(run.input ?? '{}'), budgets };
}

/**
 * A succeeded attempt has no record of its own (finishAttempt): the steps hash holds all of
 * it, the attempt (a|), its worker (w|), its start (ts|, the claim) and its end (t1|). Made
 * here, so summaries and bundles read every attempt; runs of older versions stored it.
 */
function withSucceededRecords(attempts: Record<string, string>, steps: Record<string, string>, def: ScenarioDef): Record<string, string> {
  for (const { id } of def.steps) {
    const attempt = steps[`a|${id}`];
    if (steps[`st|${id}`] !== 'succeeded' || !attempt || attempts[`${id}|${attempt}`] !== undefined) continue;
    const record: AttemptRecord = { attempt: Number(attempt), workerId: steps[`w|${id}`] ?? '', startedAt: Number(steps[`ts|${id}`]), finishedAt: Number(steps[`t1|${id}`]), status: 'succeeded' };
    attempts[`${id}|${attempt}`] = JSON.stringify(record);
  }
  return attempts;
}

function zeroCost(): CostTotals {
  return { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 };
}

/** Cost totals stored by the guardrails under `cost:<field>` of a hash. */
export function costFrom(hash: Record<string, string>, prefix = 'cost:'): CostTotals {
  const n = (f: string) => Number(hash[prefix + f] ?? 0);
  if (!Object.keys(hash).some((k) => k.startsWith(prefix))) return zeroCost();
  return { usd: Math.round(n('usd') * 1e6) / 1e6, tokens: { input: n('tokens.input'), output: n('tokens.output') }, calls: n('calls') };
}

function attemptsOf(snapshot: RunSnapshot, stepId: string): AttemptRecord[] {
  const out: AttemptRecord[] = [];
  for (let n = 1; ; n++) {
    const raw = snapshot.attempts[`${stepId}|${n}`];
    if (raw === undefined) break;
    out.push(JSON.parse(raw) as AttemptRecord);
  }
  return out;
}

function toAttemptError(r: AttemptRecord): AttemptError {
  return {
    attempt: r.attempt,
    kind: r.kind as ErrorKind,
    message: r.message ?? '',
    ...(r.retryDelayMs !== undefined ? { retryDelayMs: r.retryDelayMs } : {}),
    ...(r.workerId ? { workerId: r.workerId } : {}),
    startedAt: iso(String(r.startedAt)),
    finishedAt: iso(String(r.finishedAt)),
  };
}

/** Builds the SPEC §15 summary from a snapshot. */
export function summarize(runId: string, s: RunSnapshot): RunSummary {
  const steps: StepSummary[] = s.def.steps.map((step) => {
    const f = (name: string) => s.steps[`${name}|${step.id}`];
    const status = (f('st') ?? 'pending') as StepStatus;
    const records = attemptsOf(s, step.id);
    const started = status === 'running' ? Number(f('a') ?? 0) : 0;
    // When it first started: t0 once a later attempt (or a takeover) moved ts, else ts.
    const t0 = f('t0') ?? f('ts');
    const t1 = f('t1');
    const summary: StepSummary = {
      id: step.id,
      status,
      attempts: Math.max(records.length, started),
      handler: step.uses,
      errors: records.filter((r) => r.kind).map(toAttemptError),
    };
    if (t0 && t1) summary.durationMs = Number(t1) - Number(t0);
    if (t0) summary.startedAt = iso(t0);
    if (t1) summary.finishedAt = iso(t1);
    if (f('r')) summary.reason = f('r');
    if (f('c') === '1') summary.continued = true;
    if (step.service) summary.service = step.service;
    if (step.group) summary.group = step.group;
    const cost = costFrom(s.steps, `cost|${step.id}|`);
    if (cost.calls || cost.usd || cost.tokens.input || cost.tokens.output) summary.cost = cost;
    return summary;
  });
  const r = s.run;
  const summary: RunSummary = {
    runId,
    scenario: r.scenario,
    status: r.status as RunStatus,
    createdAt: iso(r.createdAt),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    cost: costFrom(r),
    steps,
  };
  if (r.startedAt && r.finishedAt) summary.durationMs = Number(r.finishedAt) - Number(r.startedAt);
  else if (r.finishedAt) summary.durationMs = Number(r.finishedAt) - Number(r.createdAt);
  if (r.reason) summary.reason = r.reason;
  if (r.suite) summary.suite = r.suite;
  const byService = costByService(steps);
  if (byService) summary.costByService = byService;
  const budgets = budgetScopes(s.budgets, r.suite);
  if (budgets.length > 0) summary.budgets = budgets;
  return summary;
}
