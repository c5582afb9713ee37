/**
 * services.yaml (SPEC §8): cluster-wide policies per external service, the global daily
 * budget and `maxConcurrentCalls`. Strict at every level so a typo never passes silently;
 * errors name their path (`services.openai.rateLimit.max: must be ≥ 1, got 0`).
 */
import * as z from 'zod';
import { parseDocument } from 'yaml';
import { SERVICE_NAME_PATTERN } from '../scenario/schema.ts';
import { ScenarioValidationError, type ValidationIssue } from '../scenario/errors.ts';
import { issueMessage, toValidationIssues } from '../scenario/zod-issues.ts';

const positiveInt = z.number().int().min(1);
const price = z.number().min(0);

export const RateLimitPolicy = z.strictObject({ max: positiveInt, perMs: positiveInt });

export const CircuitBreakerPolicy = z.strictObject({
  failureThreshold: positiveInt,
  windowMs: positiveInt,
  resetTimeoutMs: positiveInt,
  halfOpenMaxCalls: positiveInt.default(1),
  whenOpen: z.enum(['wait', 'fail']).default('wait'),
});

export const ModelPricing = z.strictObject({ inputPerMTok: price, outputPerMTok: price });

export const ServicePolicy = z.strictObject({
  rateLimit: RateLimitPolicy.optional(),
  maxConcurrency: positiveInt.optional(),
  circuitBreaker: CircuitBreakerPolicy.optional(),
  pricing: z.record(z.string().min(1), ModelPricing).default({}),
});

export const DailyBudget = z
  .strictObject({
    usd: z.number().min(0).optional(),
    tokens: z.number().int().min(0).optional(),
    calls: z.number().int().min(0).optional(),
    onExceed: z.enum(['fail', 'warn', 'halt']).default('halt'),
  })
  .refine((b) => b.usd !== undefined || b.tokens !== undefined || b.calls !== undefined, { message: 'give at least one of usd, tokens, calls' });

export const ServicesConfig = z.strictObject({
  services: z
    .record(z.string().regex(SERVICE_NAME_PATTERN, 'service names are 1-64 letters, digits, ".", "_" or "-"'), ServicePolicy)
    .default({}),
  budgets: z.strictObject({ daily: DailyBudget.optional() }).default({}),
  maxConcurrentCalls: positiveInt.optional(),
});

export type RateLimitPolicy = z.output<typeof RateLimitPolicy>;
export type CircuitBreakerPolicy = z.output<typeof CircuitBreakerPolicy>;
export type ModelPricing = z.output<typeof ModelPricing>;
export type ServicePolicy = z.output<typeof ServicePolicy>;
export type DailyBudget = z.output<typeof DailyBudget>;
export type ServicesConfig = z.output<typeof ServicesConfig>;

/** No services, no global limits: what a fresh Redis holds. */
export const EMPTY_SERVICES: ServicesConfig = { services: {}, budgets: {} };

/** Validates an already-parsed services document; throws with every issue and its path. */
export function validateServices(value: unknown, fileName?: string): ServicesConfig {
  const parsed = ServicesConfig.safeParse(value ?? {}, { error: issueMessage });
  if (parsed.success) return parsed.data;
  throw new ScenarioValidationError(toValidationIssues(parsed.error, ServicesConfig), { fileName });
}

/** Parses services.yaml (YAML or JSON text); syntax errors name line and column. */
export function parseServices(text: string, fileName?: string): ServicesConfig {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const issues: ValidationIssue[] = doc.errors.map((error) => {
      const pos = error.linePos?.[0];
      return { path: '', message: `YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${error.message.split('\n')[0]}` };
    });
    throw new ScenarioValidationError(issues, { fileName });
  }
  return validateServices(doc.toJS({ maxAliasCount: 100 }), fileName);
}
