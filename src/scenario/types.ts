import type { ErrorKind } from '../errors.ts';

/**
 * The resolved scenario the engine runs: defaults merged into every step, every field
 * present. Produced by `loadScenario` / `parseScenario` (src/scenario/load.ts); plain
 * JSON, so it is stored in Redis with the run and reloaded by any worker.
 */

export const MISSING_CREDENTIALS_POLICIES = ['skip', 'mock', 'fail'] as const;
export type MissingCredentialsPolicy = (typeof MISSING_CREDENTIALS_POLICIES)[number];

export interface BackoffPolicy {
  type: 'fixed' | 'exponential';
  delayMs: number;
  multiplier: number;
  maxDelayMs: number;
  jitter: 'none' | 'full' | 'equal';
}

export interface RetryPolicy {
  attempts: number;
  backoff: BackoffPolicy;
  /** Kinds retried in addition to the transient ones (only `error` may be added). */
  retryOn: ErrorKind[];
}

export interface CostEstimate {
  usd?: number;
  tokens?: number;
  calls?: number;
}

export interface BudgetLimits {
  usd?: number;
  tokens?: number;
  calls?: number;
  onExceed: 'fail' | 'warn';
}

export interface StepDef {
  id: string;
  uses: string;
  /** Handler input; strings may hold `{{ cel }}` templates, rendered at attempt time. */
  with: unknown;
  needs: string[];
  if?: string;
  service?: string;
  group?: string;
  timeoutMs: number;
  retry: RetryPolicy;
  continueOnError: boolean;
  credentials: string[];
  onMissingCredentials: MissingCredentialsPolicy;
  cost?: CostEstimate;
  mock?: { output: unknown };
  isolation: 'inline' | 'process';
}

export interface ScenarioDef {
  name: string;
  description?: string;
  timeoutMs: number;
  failFast: boolean;
  maxParallel: number;
  input: Record<string, unknown>;
  credentials: string[];
  onMissingCredentials: MissingCredentialsPolicy;
  budget?: BudgetLimits;
  groups: Record<string, { timeoutMs: number }>;
  steps: StepDef[];
}

export const SCENARIO_DEFAULTS = {
  timeoutMs: 3_600_000,
  failFast: false,
  maxParallel: 16,
  stepTimeoutMs: 30_000,
  retry: {
    attempts: 1,
    backoff: { type: 'exponential', delayMs: 1000, multiplier: 2, maxDelayMs: 60_000, jitter: 'full' },
    retryOn: [],
  } satisfies RetryPolicy,
  onMissingCredentials: 'skip',
  maxFileBytes: 1024 * 1024,
  maxSteps: 1000,
} as const;
