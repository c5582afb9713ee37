/** The public API of scenario-queue (SPEC §19): everything the CLI does is a typed call. */
export { createClient, newRunId, type ScenarioClient, type ClientOptions, type EnqueueOptions, type WaitOptions, type IdleHint } from './client.ts';
export { createWorker, type ScenarioWorker, type WorkerOptions } from './worker/worker.ts';
export { defineHandler, isHandlerDefinition } from './handlers/define.ts';
export type { HandlerContext, HandlerDefinition, Usage } from './handlers/types.ts';
export { loadScenario, parseScenario, validateScenario } from './scenario/load.ts';
export { ScenarioValidationError, isScenarioValidationError } from './scenario/errors.ts';
export type { ScenarioDef, StepDef, RetryPolicy, BackoffPolicy } from './scenario/types.ts';
export {
  ScenarioError,
  TransientError,
  DeterministicError,
  HttpStatusError,
  ScenarioTimeoutError,
  isScenarioError,
  toFailure,
  ERROR_KINDS,
  TRANSIENT_KINDS,
  DETERMINISTIC_KINDS,
  type ErrorKind,
  type Failure,
} from './errors.ts';
export type { RunSummary, StepSummary, ScenarioEvent, RunStatus, StepStatus, EventType } from './engine/types.ts';
