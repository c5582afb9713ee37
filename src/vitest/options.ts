/**
 * Options of the `scenario-queue/vitest` fixture, and how they combine:
 * per-run options > `SQ_TEST_*` environment > fixture options (`scenarioOptions`) > defaults.
 */
import { z } from 'zod';
import type { HandlerDefinition } from '../handlers/types.ts';

export const TEST_MODES = ['live', 'mock'] as const;
export type TestMode = (typeof TEST_MODES)[number];

export const WORKER_POLICIES = ['auto', 'always', 'never'] as const;
/** `auto`: start an in-process worker only when no live worker serves the prefix. */
export type WorkerPolicy = (typeof WORKER_POLICIES)[number];

export interface BudgetOptions {
  readonly usd?: number;
  readonly tokens?: number;
  readonly calls?: number;
  /** @default 'fail' */
  readonly onExceed?: 'fail' | 'warn';
}

/** What one `scenario.run()` may set; also the per-file defaults of `scenarioOptions`. */
export interface RunOptions {
  /**
   * `live` calls real services (scheduled runs); `mock` runs every step mocked (SPEC §10).
   * @default 'live'
   */
  readonly mode?: TestMode;
  /**
   * Upper bound for the run (its `timeoutMs`); the wait also ends 1 s before the test's own timeout.
   * @default the scenario's timeoutMs
   */
  readonly timeoutMs?: number;
  /** Replaces the scenario's run budget, limit by limit. */
  readonly budget?: BudgetOptions;
  /** Credential names this test needs in live mode; when one is missing, the test is skipped. */
  readonly credentials?: readonly string[];
  /** Overrides the scenario's `input` defaults key by key. */
  readonly input?: Readonly<Record<string, unknown>>;
}

/** The `scenarioOptions` fixture: per-file (or per-config via `provide`) settings. */
export interface ScenarioTestOptions extends RunOptions {
  /** @default SQ_TEST_REDIS_URL, REDIS_URL, then redis://127.0.0.1:6379 */
  readonly redisUrl?: string;
  /** @default SQ_TEST_PREFIX, SQ_PREFIX, then 'sq' */
  readonly prefix?: string;
  /** @default 'auto' */
  readonly worker?: WorkerPolicy;
  /** Custom handlers for the in-process worker (definitions, or a module path like SQ_HANDLERS). */
  readonly handlers?: string | readonly HandlerDefinition[];
  /** In-process worker concurrency. @default 4 */
  readonly concurrency?: number;
  /** Suite label shared by this file's runs. @default `vitest-<time>` */
  readonly suite?: string;
}

/** Options after every layer is applied. */
export interface ResolvedOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly worker: WorkerPolicy;
  readonly handlers?: string | readonly HandlerDefinition[];
  readonly concurrency: number;
  readonly suite: string;
  readonly mode: TestMode;
  readonly timeoutMs?: number;
  readonly budget?: BudgetOptions;
  readonly credentials: readonly string[];
  readonly input: Readonly<Record<string, unknown>>;
}

const positiveInt = (name: string) => z.coerce.number({ error: `${name} must be a whole number` }).int(`${name} must be a whole number`).positive(`${name} must be > 0`);
const nonNegative = (name: string) => z.coerce.number({ error: `${name} must be a number` }).nonnegative(`${name} must be ≥ 0`);

/** `SQ_TEST_*` variables: CI switches mode, Redis, limits without touching test files. */
const TestEnvSchema = z.object({
  SQ_TEST_REDIS_URL: z.string().regex(/^rediss?(\+cluster)?:\/\//, 'SQ_TEST_REDIS_URL must be a redis://, rediss:// or redis+cluster:// URL').optional(),
  SQ_TEST_PREFIX: z.string().regex(/^(\{[A-Za-z0-9_-]+\}|[A-Za-z0-9_-]+)$/, 'SQ_TEST_PREFIX must be letters, digits, _ or - (optionally in {braces})').optional(),
  SQ_TEST_MODE: z.enum(TEST_MODES, { error: 'SQ_TEST_MODE must be live or mock' }).optional(),
  SQ_TEST_TIMEOUT_MS: positiveInt('SQ_TEST_TIMEOUT_MS').optional(),
  SQ_TEST_WORKER: z.enum(WORKER_POLICIES, { error: 'SQ_TEST_WORKER must be auto, always or never' }).optional(),
  SQ_TEST_HANDLERS: z.string().optional(),
  SQ_TEST_CONCURRENCY: positiveInt('SQ_TEST_CONCURRENCY').optional(),
  SQ_TEST_SUITE: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'SQ_TEST_SUITE must be letters, digits, _ . or -').optional(),
  SQ_TEST_BUDGET_USD: nonNegative('SQ_TEST_BUDGET_USD').optional(),
  SQ_TEST_BUDGET_TOKENS: positiveInt('SQ_TEST_BUDGET_TOKENS').optional(),
  SQ_TEST_BUDGET_CALLS: positiveInt('SQ_TEST_BUDGET_CALLS').optional(),
});
type TestEnv = z.infer<typeof TestEnvSchema>;

/** Parses the `SQ_TEST_*` variables; the error names every bad one. */
export function readTestEnv(env: NodeJS.ProcessEnv = process.env): TestEnv {
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('SQ_TEST_') && v !== undefined && v !== ''));
  const parsed = TestEnvSchema.safeParse(present);
  if (!parsed.success) throw new Error(`scenario-queue/vitest: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

function envBudget(env: TestEnv): BudgetOptions | undefined {
  const budget = { usd: env.SQ_TEST_BUDGET_USD, tokens: env.SQ_TEST_BUDGET_TOKENS, calls: env.SQ_TEST_BUDGET_CALLS };
  return Object.values(budget).some((v) => v !== undefined) ? budget : undefined;
}

function mergeBudgets(...layers: (BudgetOptions | undefined)[]): BudgetOptions | undefined {
  const defined = layers.filter((b): b is BudgetOptions => b !== undefined);
  if (defined.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const layer of defined) for (const [k, v] of Object.entries(layer)) if (v !== undefined) out[k] = v;
  return out as BudgetOptions;
}

/** Applies the layers for one file: env over fixture options over defaults. */
export function resolveFileOptions(fixture: ScenarioTestOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const t = readTestEnv(env);
  return {
    redisUrl: t.SQ_TEST_REDIS_URL ?? fixture.redisUrl ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    prefix: t.SQ_TEST_PREFIX ?? fixture.prefix ?? env.SQ_PREFIX ?? 'sq',
    worker: t.SQ_TEST_WORKER ?? fixture.worker ?? 'auto',
    handlers: t.SQ_TEST_HANDLERS ?? fixture.handlers,
    concurrency: t.SQ_TEST_CONCURRENCY ?? fixture.concurrency ?? 4,
    suite: t.SQ_TEST_SUITE ?? fixture.suite ?? `vitest-${Date.now().toString(36)}`,
    mode: t.SQ_TEST_MODE ?? fixture.mode ?? 'live',
    timeoutMs: t.SQ_TEST_TIMEOUT_MS ?? fixture.timeoutMs,
    budget: mergeBudgets(fixture.budget, envBudget(t)),
    credentials: fixture.credentials ?? [],
    input: fixture.input ?? {},
  };
}

/** Applies one run's options over the file's. */
export function resolveRunOptions(file: ResolvedOptions, run: RunOptions = {}): ResolvedOptions {
  return {
    ...file,
    mode: run.mode ?? file.mode,
    timeoutMs: run.timeoutMs ?? file.timeoutMs,
    budget: mergeBudgets(file.budget, run.budget),
    credentials: [...new Set([...file.credentials, ...(run.credentials ?? [])])],
    input: { ...file.input, ...run.input },
  };
}
