import type { Command } from 'commander';
import type { BudgetLimitsInput } from '../guardrails/enqueue.ts';
import { UsageError } from './errors.ts';

/** The guardrail flags of `run` (SPEC §9, §10). */
export interface GuardFlags {
  budgetUsd?: string;
  budgetTokens?: string;
  budgetCalls?: string;
  suiteBudgetUsd?: string;
  suiteBudgetTokens?: string;
  suiteBudgetCalls?: string;
  record?: boolean;
}

/** Adds the budget and `--record` options to `run`. */
export function addGuardOptions(command: Command): Command {
  return command
    .option('--budget-usd <usd>', 'run budget in USD (overrides the scenario’s budget.usd)')
    .option('--budget-tokens <n>', 'run budget in tokens')
    .option('--budget-calls <n>', 'run budget in calls')
    .option('--suite-budget-usd <usd>', 'budget in USD shared by every run of the suite (needs --suite or several files)')
    .option('--suite-budget-tokens <n>', 'suite budget in tokens')
    .option('--suite-budget-calls <n>', 'suite budget in calls')
    .option('--record', 'keep live http/llm responses so later --mock runs replay them');
}

function amount(flag: string, raw: string | undefined, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be ${integer ? 'an integer' : 'a number'} ≥ 0, got "${raw}"`);
  }
  return n;
}

function limits(prefix: string, usd?: string, tokens?: string, calls?: string): BudgetLimitsInput | undefined {
  const out = { usd: amount(`${prefix}-usd`, usd, false), tokens: amount(`${prefix}-tokens`, tokens, true), calls: amount(`${prefix}-calls`, calls, true) };
  return Object.values(out).some((v) => v !== undefined) ? out : undefined;
}

/** Validated budgets from the flags; a suite budget without a suite is a usage error. */
export function guardEnqueueFlags(flags: GuardFlags, suite: string | undefined): { budget?: BudgetLimitsInput; suiteBudget?: BudgetLimitsInput; record?: boolean } {
  const budget = limits('--budget', flags.budgetUsd, flags.budgetTokens, flags.budgetCalls);
  const suiteBudget = limits('--suite-budget', flags.suiteBudgetUsd, flags.suiteBudgetTokens, flags.suiteBudgetCalls);
  if (suiteBudget && !suite) throw new UsageError('--suite-budget-* needs --suite ID (or several scenario files, which form a suite)');
  return { budget, suiteBudget, record: flags.record };
}
