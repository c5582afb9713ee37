import * as z from 'zod';
import { TRANSIENT_KINDS } from '../errors.ts';
import { MISSING_CREDENTIALS_POLICIES, SCENARIO_DEFAULTS } from './types.ts';

/**
 * The scenario file format of SPEC §2, as written by users: strict at every level (an
 * unknown field is an error, so typos never pass silently), optional where a default
 * exists. Defaults are merged by resolve.ts into the `ScenarioDef` the engine runs.
 */

export const SCENARIO_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const STEP_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
/** Credentials are environment variable names, and must be readable as `secrets.NAME`. */
export const CREDENTIAL_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const SERVICE_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,64}$/;
/** Node's timers overflow above 2^31-1 ms and then fire at once; longer limits would be ignored. */
export const MAX_DURATION_MS = 2_147_483_647;
/** Kinds `retryOn` may name: transient ones are retried anyway, `error` is the one opt-in. */
export const RETRY_ON_KINDS = ['error', ...TRANSIENT_KINDS] as const;

const durationMs = z
  .number()
  .int()
  .positive()
  .max(MAX_DURATION_MS, `must be ≤ ${MAX_DURATION_MS} (the longest timer Node.js supports)`);
const delayMs = z.number().int().min(0).max(MAX_DURATION_MS, `must be ≤ ${MAX_DURATION_MS}`);
const count = z.number().int().min(0);
const usd = z.number().min(0);

const credentials = z.array(
  z.string().regex(CREDENTIAL_NAME_PATTERN, 'must be an environment variable name (letters, digits, "_"; not starting with a digit)'),
);
const onMissingCredentials = z.enum(MISSING_CREDENTIALS_POLICIES);
const isolation = z.enum(['inline', 'process']);
/** `needs: login` is accepted for `needs: [login]`, as in GitHub Actions. */
const needs = z.preprocess((value) => (typeof value === 'string' ? [value] : value), z.array(z.string()));
/** YAML turns `if: true` into a bool; treat it as the CEL literal the user meant. */
const condition = z.preprocess((value) => (typeof value === 'boolean' ? String(value) : value), z.string().trim().min(1));

export const BackoffInput = z.strictObject({
  type: z.enum(['fixed', 'exponential']).optional(),
  delayMs: delayMs.optional(),
  multiplier: z.number().min(1).max(100).optional(),
  maxDelayMs: delayMs.optional(),
  jitter: z.enum(['none', 'full', 'equal']).optional(),
});

export const RetryInput = z.strictObject({
  attempts: z.number().int().min(1).max(100).optional(),
  backoff: BackoffInput.optional(),
  retryOn: z
    .array(
      z.enum(RETRY_ON_KINDS, {
        error: (issue) => `retryOn may only add "error" or transient kinds (${TRANSIENT_KINDS.join(', ')}), got ${JSON.stringify(issue.input)}`,
      }),
    )
    .optional(),
});

export const CostInput = z.strictObject({ usd: usd.optional(), tokens: count.optional(), calls: count.optional() });

export const MockInput = z
  .strictObject({ output: z.unknown() })
  .refine((mock) => 'output' in mock, { message: 'is required', path: ['output'] });

export const StepInput = z.strictObject({
  id: z.string().regex(STEP_ID_PATTERN, 'must be 1-64 letters, digits, "_" or "-"'),
  uses: z.string().min(1),
  with: z.unknown().optional(),
  needs: needs.optional(),
  if: condition.optional(),
  service: z.string().regex(SERVICE_NAME_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-"').optional(),
  group: z.string().min(1).optional(),
  timeoutMs: durationMs.optional(),
  retry: RetryInput.optional(),
  continueOnError: z.boolean().optional(),
  credentials: credentials.optional(),
  onMissingCredentials: onMissingCredentials.optional(),
  cost: CostInput.optional(),
  mock: MockInput.optional(),
  isolation: isolation.optional(),
});

export const DefaultsInput = z.strictObject({
  timeoutMs: durationMs.optional(),
  retry: RetryInput.optional(),
  continueOnError: z.boolean().optional(),
  credentials: credentials.optional(),
  onMissingCredentials: onMissingCredentials.optional(),
  isolation: isolation.optional(),
});

export const BudgetInput = z.strictObject({
  usd: usd.optional(),
  tokens: count.optional(),
  calls: count.optional(),
  onExceed: z.enum(['fail', 'warn']).optional(),
});

export const ScenarioInput = z.strictObject({
  name: z.string().regex(SCENARIO_NAME_PATTERN, 'must be lowercase letters, digits and "-", starting with a letter or digit, at most 63 characters'),
  description: z.string().optional(),
  timeoutMs: durationMs.optional(),
  failFast: z.boolean().optional(),
  maxParallel: z.number().int().min(1).max(1000).optional(),
  input: z.record(z.string(), z.unknown()).optional(),
  credentials: credentials.optional(),
  onMissingCredentials: onMissingCredentials.optional(),
  budget: BudgetInput.optional(),
  groups: z.record(z.string().regex(STEP_ID_PATTERN, 'group names must be 1-64 letters, digits, "_" or "-"'), z.strictObject({ timeoutMs: durationMs })).optional(),
  defaults: DefaultsInput.optional(),
  steps: z
    .array(StepInput)
    .min(1, 'a scenario needs at least one step')
    .max(SCENARIO_DEFAULTS.maxSteps, `at most ${SCENARIO_DEFAULTS.maxSteps} steps are allowed`),
});

export type BackoffInput = z.output<typeof BackoffInput>;
export type RetryInput = z.output<typeof RetryInput>;
export type StepInput = z.output<typeof StepInput>;
export type DefaultsInput = z.output<typeof DefaultsInput>;
export type ScenarioInput = z.output<typeof ScenarioInput>;
