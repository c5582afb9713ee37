/** The scenario shapes the benchmark runs, built as JSON text and validated like any file. */
import { parseScenario } from '../src/scenario/load.ts';
import { BUILTIN_HANDLERS } from '../src/handlers/builtin/index.ts';
import type { ScenarioDef } from '../src/scenario/types.ts';

const KNOWN = [...BUILTIN_HANDLERS.map((h) => h.name), 'bench-mark'];

interface StepSpec {
  id: string;
  uses: string;
  needs?: string[];
  service?: string;
  cost?: { calls?: number; tokens?: number; usd?: number };
}

/** Scenario-level fields beyond name and steps (`budget`, `maxParallel`). */
type ScenarioExtras = Record<string, unknown>;

function scenario(name: string, steps: StepSpec[], extras: ScenarioExtras = {}): ScenarioDef {
  const text = JSON.stringify({ name, ...extras, steps });
  return parseScenario(text, { format: 'json', knownHandlers: KNOWN, fileName: `bench:${name}` });
}

const pad = (i: number) => String(i).padStart(4, '0');

/** `n` no-op steps without needs, all admitted at once (maxParallel = n). */
export function independentScenario(n: number): ScenarioDef {
  return scenario(`bench-independent-${n}`, Array.from({ length: n }, (_, i) => ({ id: `s${pad(i)}`, uses: 'noop' })), { maxParallel: n });
}

/** Like independentScenario, every step on `service` with a one-call estimate, under a run budget. */
export function guardedScenario(n: number, service: string, budget: { calls: number; tokens: number; usd: number }): ScenarioDef {
  const steps = Array.from({ length: n }, (_, i) => ({ id: `s${pad(i)}`, uses: 'noop', service, cost: { calls: 1 } }));
  return scenario(`bench-guarded-${n}`, steps, { maxParallel: n, budget: { ...budget, onExceed: 'fail' } });
}

/** `n` sequential steps `s0000 → s0001 → …` of `uses` (bench-mark records handler times). */
export function chainScenario(n: number, uses = 'bench-mark'): ScenarioDef {
  return scenario(
    `bench-chain-${n}`,
    Array.from({ length: n }, (_, i) => ({ id: `s${pad(i)}`, uses, ...(i > 0 ? { needs: [`s${pad(i - 1)}`] } : {}) })),
  );
}

/** `n` steps in all: one root, n − 2 parallel branches, one join that needs every branch. */
export function diamondScenario(n: number): ScenarioDef {
  const branches = Array.from({ length: n - 2 }, (_, i) => ({ id: `b${pad(i)}`, uses: 'noop', needs: ['fan-out'] }));
  return scenario(`bench-diamond-${n}`, [{ id: 'fan-out', uses: 'noop' }, ...branches, { id: 'fan-in', uses: 'noop', needs: branches.map((b) => b.id) }], { maxParallel: n });
}
