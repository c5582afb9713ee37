import type { ValidationIssue } from './errors.ts';
import type { BackoffInput, RetryInput, ScenarioInput, StepInput } from './schema.ts';
import { SCENARIO_DEFAULTS, type RetryPolicy, type ScenarioDef, type StepDef } from './types.ts';

/**
 * Turns the file as written into the resolved `ScenarioDef`: every default filled in and
 * `defaults:` merged into each step, so the engine and workers never merge again.
 */

/** Merges `defaults:` and built-in defaults into every step of a schema-valid scenario. */
export function resolveScenario(input: ScenarioInput): ScenarioDef {
  const def: ScenarioDef = {
    name: input.name,
    timeoutMs: input.timeoutMs ?? SCENARIO_DEFAULTS.timeoutMs,
    failFast: input.failFast ?? SCENARIO_DEFAULTS.failFast,
    maxParallel: input.maxParallel ?? SCENARIO_DEFAULTS.maxParallel,
    input: input.input ?? {},
    credentials: unique(input.credentials ?? []),
    onMissingCredentials: input.onMissingCredentials ?? SCENARIO_DEFAULTS.onMissingCredentials,
    groups: input.groups ?? {},
    steps: input.steps.map((step) => resolveStep(step, input)),
  };
  if (input.description !== undefined) def.description = input.description;
  if (input.budget) def.budget = { ...input.budget, onExceed: input.budget.onExceed ?? 'fail' };
  return def;
}

function resolveStep(step: StepInput, scenario: ScenarioInput): StepDef {
  const defaults = scenario.defaults ?? {};
  const resolved: StepDef = {
    id: step.id,
    uses: step.uses,
    with: step.with ?? {},
    needs: unique(step.needs ?? []),
    timeoutMs: step.timeoutMs ?? defaults.timeoutMs ?? SCENARIO_DEFAULTS.stepTimeoutMs,
    retry: mergeRetry(mergeRetry(SCENARIO_DEFAULTS.retry, defaults.retry), step.retry),
    continueOnError: step.continueOnError ?? defaults.continueOnError ?? false,
    // Scenario-level credentials are available to every step (SPEC §10), so they are part of each step's set.
    credentials: unique([...(scenario.credentials ?? []), ...(defaults.credentials ?? []), ...(step.credentials ?? [])]),
    onMissingCredentials:
      step.onMissingCredentials ?? defaults.onMissingCredentials ?? scenario.onMissingCredentials ?? SCENARIO_DEFAULTS.onMissingCredentials,
    isolation: step.isolation ?? defaults.isolation ?? 'inline',
  };
  // Absent optional fields stay absent, so the stored JSON shows only what was asked for.
  if (step.if !== undefined) resolved.if = step.if;
  if (step.service !== undefined) resolved.service = step.service;
  if (step.group !== undefined) resolved.group = step.group;
  if (step.cost !== undefined) resolved.cost = step.cost;
  if (step.mock !== undefined) resolved.mock = { output: step.mock.output };
  return resolved;
}

/** `override` over `base`: fields replace, `backoff` merges field by field, `retryOn` replaces. */
export function mergeRetry(base: RetryPolicy, override: RetryInput | undefined): RetryPolicy {
  if (!override) return { ...base, backoff: { ...base.backoff }, retryOn: [...base.retryOn] };
  return {
    attempts: override.attempts ?? base.attempts,
    backoff: { ...base.backoff, ...definedOnly(override.backoff) },
    retryOn: [...(override.retryOn ?? base.retryOn)],
  };
}

/**
 * Cross-field rules that only make sense after merging (a step's `delayMs` against the
 * defaults' `maxDelayMs`). Reported where the offending value was written.
 */
export function checkRetryPolicies(input: ScenarioInput, def: ScenarioDef): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const defaultsRetry = mergeRetry(SCENARIO_DEFAULTS.retry, input.defaults?.retry);
  const defaultsProblem = backoffProblem(defaultsRetry);
  if (defaultsProblem) issues.push({ path: 'defaults', message: defaultsProblem });
  def.steps.forEach((step, index) => {
    const problem = backoffProblem(step.retry);
    // A step that inherits the defaults' backoff unchanged shares their problem: reported once, above.
    if (problem && (input.steps[index].retry?.backoff !== undefined || !defaultsProblem)) {
      issues.push({ path: `steps[${index}]`, message: problem });
    }
  });
  return issues;
}

function backoffProblem(retry: RetryPolicy): string | undefined {
  const { delayMs, maxDelayMs } = retry.backoff;
  if (maxDelayMs < delayMs) return `retry.backoff.maxDelayMs must be ≥ retry.backoff.delayMs (${maxDelayMs} < ${delayMs})`;
  return undefined;
}

function definedOnly(backoff: BackoffInput | undefined): Partial<BackoffInput> {
  if (!backoff) return {};
  return Object.fromEntries(Object.entries(backoff).filter(([, value]) => value !== undefined));
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
