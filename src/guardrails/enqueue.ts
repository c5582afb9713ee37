/**
 * The client side of the guardrails, around `createRun`: refuse while halted (with the
 * reason), decide credential gates from the live workers' advertised names, store the run
 * and suite budgets before any step can start, and apply the gates decided at enqueue.
 */
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { EnqueueItem, RunStore, TransitionResult } from '../engine/store.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import { liveWorkers } from '../worker/heartbeat.ts';
import { toMicroUsd } from './cost.ts';
import { enqueueGates, type EnqueueGates } from './credentials.ts';
import { haltedError, readHalt } from './halt.ts';

/** Budget limits given at enqueue (`--budget-*`, `--suite-budget-*`). */
export interface BudgetLimitsInput {
  readonly usd?: number;
  readonly tokens?: number;
  readonly calls?: number;
}

/** The guardrail part of EnqueueOptions. */
export interface GuardEnqueueOptions {
  /** Run budget; each given resource overrides the scenario's `budget:`. */
  readonly budget?: BudgetLimitsInput;
  readonly suite?: string;
  /** Budget shared by every run of the suite. */
  readonly suiteBudget?: BudgetLimitsInput;
  /** Keep live http/llm responses for later mocked runs. */
  readonly record?: boolean;
  readonly mock?: boolean;
}

/** Suite budgets outlive their runs by this much after the last write. */
const SUITE_TTL_MS = 7 * 86_400_000;

function budgetFields(limits: BudgetLimitsInput, onExceed: string): Record<string, string | number> | undefined {
  const f: Record<string, string | number> = {};
  if (limits.usd !== undefined) f['limit:usd'] = toMicroUsd(limits.usd);
  if (limits.tokens !== undefined) f['limit:tokens'] = limits.tokens;
  if (limits.calls !== undefined) f['limit:calls'] = limits.calls;
  if (Object.keys(f).length === 0) return undefined;
  f['limit:onExceed'] = onExceed;
  return f;
}

/** Throws (kind `halted`) while a halt covers the scenario; decides credential gates. */
export async function checkBeforeEnqueue(
  redis: RedisConnection,
  keys: Keys,
  def: ScenarioDef,
  options: GuardEnqueueOptions,
): Promise<{ meta: Record<string, string | number>; gates: EnqueueGates }> {
  const halt = await readHalt(redis, keys, def.name);
  if (halt) throw haltedError(halt);
  if (options.suiteBudget && !options.suite && budgetFields(options.suiteBudget, 'fail')) {
    throw new Error('a suite budget needs a suite id (--suite ID)');
  }
  // A mocked run needs no credentials: nothing to gate.
  const gates: EnqueueGates = options.mock ? { steps: [], mock: [] } : enqueueGates(def, await liveWorkers(redis, keys));
  const meta: Record<string, string | number> = {};
  if (options.record) meta.record = 1;
  if (gates.mock.length > 0) meta.gate = JSON.stringify({ mock: gates.mock });
  return { meta, gates };
}

/**
 * Writes the run's and the suite's budgets and applies the enqueue-time gates; returns the
 * steps to add to the queue (the created run's roots minus gated steps, plus what the gates
 * made ready).
 */
export async function applyAfterCreate(
  redis: RedisConnection,
  keys: Keys,
  store: RunStore,
  run: { runId: string; def: ScenarioDef; ttlMs: number },
  options: GuardEnqueueOptions,
  gates: EnqueueGates,
  created: TransitionResult,
): Promise<EnqueueItem[]> {
  const { runId, def } = run;
  const runBudget = budgetFields({ ...def.budget, ...definedOnly(options.budget) }, def.budget?.onExceed ?? 'fail');
  const suiteBudget = options.suite && options.suiteBudget ? budgetFields(options.suiteBudget, 'fail') : undefined;
  if (runBudget || suiteBudget) {
    const tx = redis.multi();
    if (runBudget) tx.hset(keys.guard.run(runId).budget, runBudget).pexpire(keys.guard.run(runId).budget, run.ttlMs);
    if (suiteBudget && options.suite) tx.hset(keys.guard.suite(options.suite).budget, suiteBudget).pexpire(keys.guard.suite(options.suite).budget, SUITE_TTL_MS);
    await tx.exec();
  }
  if (gates.skipRun) {
    await store.script('gateRun', runId, ['run', gates.skipRun.message, '[]']);
    return [];
  }
  if (gates.steps.length === 0) return created.toEnqueue;
  const gated = await store.script('gateRun', runId, ['steps', '', JSON.stringify(gates.steps)]);
  const finished = new Set(gates.steps.map((g) => g.id));
  return [...created.toEnqueue.filter((item) => !finished.has(item.stepId)), ...gated.toEnqueue];
}

function definedOnly(limits: BudgetLimitsInput | undefined): BudgetLimitsInput {
  if (!limits) return {};
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
}
