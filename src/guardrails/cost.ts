/**
 * Cost arithmetic of the guardrails: estimates before an attempt, actual usage after it,
 * USD priced from the service's `pricing` (SPEC §9). Budgets count USD in integer
 * micro-USD so sums across thousands of attempts never drift.
 */
import type { CostTotals } from '../engine/types.ts';
import type { HandlerDefinition, Usage } from '../handlers/types.ts';
import type { CostEstimate } from '../scenario/types.ts';
import type { ModelPricing } from './services-schema.ts';

/** USD → integer micro-USD. */
export function toMicroUsd(usd: number): number {
  return Math.round(usd * 1_000_000);
}

/** What one attempt reserves, in budget units. */
export interface Reservation {
  usdMicro: number;
  tokens: number;
  calls: number;
}

export const NO_RESERVATION: Reservation = { usdMicro: 0, tokens: 0, calls: 0 };

/** USD of `tokens` at a model's price; estimates price every token at the dearer rate. */
function priceTokens(pricing: ModelPricing, input: number, output: number): number {
  return (input * pricing.inputPerMTok + output * pricing.outputPerMTok) / 1_000_000;
}

/** The model an input names (`with.model` of llm steps), for pricing. */
function modelOf(input: unknown): string | undefined {
  const model = typeof input === 'object' && input !== null ? (input as { model?: unknown }).model : undefined;
  return typeof model === 'string' ? model : undefined;
}

/**
 * The attempt's estimate: the step's `cost:` when given, else the handler's own `estimate`
 * (llm: `maxTokens`, http: 1 call). USD not given is priced from the tokens at the model's
 * dearer rate, so an estimate errs high rather than low.
 */
export function estimateOf(
  cost: CostEstimate | undefined,
  handler: HandlerDefinition | undefined,
  input: unknown,
  pricing: Readonly<Record<string, ModelPricing>>,
): Reservation {
  let estimate = cost;
  if (!estimate && handler?.estimate && !(input instanceof Error)) {
    const parsed = handler.input.safeParse(input);
    if (parsed.success) estimate = handler.estimate(parsed.data);
  }
  if (!estimate) return NO_RESERVATION;
  const tokens = Math.max(0, Math.ceil(estimate.tokens ?? 0));
  let usd = estimate.usd;
  const model = modelOf(input);
  if (usd === undefined && tokens > 0 && model && pricing[model]) {
    const p = pricing[model];
    usd = (tokens * Math.max(p.inputPerMTok, p.outputPerMTok)) / 1_000_000;
  }
  return { usdMicro: Math.max(0, Math.ceil((usd ?? 0) * 1_000_000)), tokens, calls: Math.max(0, Math.ceil(estimate.calls ?? 0)) };
}

/** Adds up reported usage; tokens without `usd` are priced by `usage.model` (or the input's model). */
export function actualOf(usage: readonly Usage[], pricing: Readonly<Record<string, ModelPricing>>, input: unknown): CostTotals {
  const total: CostTotals = { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 };
  for (const u of usage) {
    const input_ = Math.max(0, u.tokens?.input ?? 0);
    const output = Math.max(0, u.tokens?.output ?? 0);
    total.tokens.input += input_;
    total.tokens.output += output;
    total.calls += Math.max(0, u.calls ?? 0);
    if (u.usd !== undefined) total.usd += Math.max(0, u.usd);
    else {
      const model = u.model ?? modelOf(input);
      const p = model ? pricing[model] : undefined;
      if (p) total.usd += priceTokens(p, input_, output);
    }
  }
  return total;
}
