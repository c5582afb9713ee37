/** Reading, validating and evaluating scenario files (SPEC §2, §3). */
export type { BackoffPolicy, BudgetLimits, CostEstimate, MissingCredentialsPolicy, RetryPolicy, ScenarioDef, StepDef } from './types.ts';
export { MISSING_CREDENTIALS_POLICIES, SCENARIO_DEFAULTS } from './types.ts';
export {
  ExpressionError,
  ScenarioValidationError,
  formatPath,
  isExpressionError,
  isScenarioValidationError,
  type ValidationIssue,
} from './errors.ts';
export { loadScenario, parseScenario, validateScenario, type LoadScenarioOptions, type ParseScenarioOptions, type ValidateScenarioOptions } from './load.ts';
export { compileScenario, type CompiledScenario, type CompiledStep } from './compile.ts';
export {
  compileExpression,
  isPreparedContext,
  prepareContext,
  referencedSteps,
  referencesSecrets,
  type CompiledExpression,
  type ExpressionContext,
  type ExpressionReferences,
  type PreparedContext,
  type StepContext,
} from './cel.ts';
export { collectTemplates, compileTemplates, renderTemplates, type TemplateRef, type TemplateRenderer } from './templates.ts';
export { buildDag, findCycles, findDuplicateIds, findUnknownNeeds, isUpstream, type Cycle, type Dag, type DagNode } from './dag.ts';
export { mergeRetry } from './resolve.ts';
export { ScenarioInput, RETRY_ON_KINDS, SCENARIO_NAME_PATTERN, STEP_ID_PATTERN, CREDENTIAL_NAME_PATTERN, MAX_DURATION_MS } from './schema.ts';
