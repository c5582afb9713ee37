/**
 * Item 5: guardrails that never bind against the plain engine (a worker with OPEN_GUARD).
 * Guarded: every step on a service with a rate limit, a concurrency limit and a breaker, a
 * one-call estimate reserved and settled against a run budget; all far above what is used.
 * Also the default worker (guardrails on, no service or budget in the scenario).
 */
import { applyServices } from '../../src/guardrails/services-store.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import { goal, type BenchContext, type Goal } from '../context.ts';
import { guardedScenario } from '../scenarios.ts';
import { drain, scenarioRuns, type Drained, type Workload } from '../sides.ts';
import { median, ratio, round } from '../stats.ts';
import { rotated } from './throughput.ts';

const SERVICE = 'bench-svc';
const NEVER_BINDING = validateServices({
  services: {
    [SERVICE]: {
      rateLimit: { max: 1_000_000, perMs: 1_000 },
      maxConcurrency: 10_000,
      circuitBreaker: { failureThreshold: 1_000, windowMs: 60_000, resetTimeoutMs: 30_000 },
    },
  },
});
const RUN_BUDGET = { calls: 1_000_000_000, tokens: 1_000_000_000, usd: 1_000_000 };

const VARIANTS = ['plain', 'default', 'guarded'] as const;
type Variant = (typeof VARIANTS)[number];

/** One variant's workload (also bench/redis-instructions.ts --guarded). */
export function guardrailsWorkload(variant: Variant, steps: number, perRun: number): Workload {
  if (variant === 'plain') return scenarioRuns(steps, perRun, { label: 'plain', guard: 'open' });
  if (variant === 'default') return scenarioRuns(steps, perRun, { label: 'default', guard: 'default' });
  return scenarioRuns(steps, perRun, {
    label: 'guarded',
    guard: 'default',
    build: (size) => guardedScenario(size, SERVICE, RUN_BUDGET),
    setup: async (client) => void (await applyServices(client.redis, client.keys, NEVER_BINDING)),
  });
}

export async function guardrails(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { steps, stepsPerRun, concurrency, rounds } = ctx.options;
  const measured: Record<Variant, Drained[]> = { plain: [], default: [], guarded: [] };
  for (let r = 1; r <= rounds; r++) {
    for (const variant of rotated(VARIANTS, r)) {
      const drained = await drain(ctx.redis, guardrailsWorkload(variant, steps, stepsPerRun), concurrency);
      measured[variant].push(drained);
      ctx.progress(`guardrails round ${r}/${rounds} ${variant}: ${Math.round(drained.stepsPerSec)} steps/s`);
    }
  }
  const summary = (list: Drained[]) => ({
    stepsPerSec: round(median(list.map((d) => d.stepsPerSec)), 0),
    workerCpuUsPerStep: round(median(list.map((d) => d.workerCpuUsPerStep)), 1),
    redisCpuUsPerStep: round(median(list.map((d) => d.redisCpuUsPerStep)), 1),
    rounds: list.map((d) => round(d.stepsPerSec, 0)),
  });
  const plain = summary(measured.plain);
  const byDefault = summary(measured.default);
  const guarded = summary(measured.guarded);
  const guardedRatio = ratio(guarded.stepsPerSec, plain.stepsPerSec);
  return {
    result: {
      config: { steps, stepsPerRun, concurrency, rounds, service: NEVER_BINDING.services[SERVICE], runBudget: RUN_BUDGET, costPerStep: { calls: 1 } },
      plain,
      default: byDefault,
      guarded,
      ratio: guardedRatio,
      defaultRatio: ratio(byDefault.stepsPerSec, plain.stepsPerSec),
    },
    goals: [goal('guardrails', 'guarded steps/s ÷ plain engine steps/s', guardedRatio, '≥', 0.5)],
  };
}
