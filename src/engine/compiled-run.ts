import { compileExpression, type CompiledExpression } from '../scenario/cel.ts';
import { compileTemplates, type TemplateRenderer } from '../scenario/templates.ts';
import type { ScenarioDef, StepDef } from '../scenario/types.ts';

/** The engine's view of one step: static facts plus compiled expressions. */
export interface CompiledStep {
  def: StepDef;
  condition?: CompiledExpression;
  withRenderer: TemplateRenderer;
  /** Step ids whose output/status the step's expressions read (all ids when unknowable). */
  reads: string[];
}

/** A scenario ready to execute: compiled once per run and cached by the worker. */
export interface CompiledRun {
  def: ScenarioDef;
  steps: Map<string, CompiledStep>;
  dependents: Map<string, string[]>;
}

/** Compiles every `if` and `with` template of a validated scenario. */
export function compileRun(def: ScenarioDef): CompiledRun {
  const allIds = def.steps.map((s) => s.id);
  const dependents = new Map<string, string[]>(allIds.map((id) => [id, []]));
  const steps = new Map<string, CompiledStep>();
  for (const step of def.steps) {
    for (const need of step.needs) dependents.get(need)?.push(step.id);
    const condition = step.if !== undefined ? compileExpression(step.if) : undefined;
    const withRenderer = compileTemplates(step.with ?? {});
    const refs = [condition?.references, withRenderer.references, assertionReferences(step)].filter((r) => r !== undefined);
    const dynamic = refs.some((r) => r.dynamicSteps);
    const reads = dynamic ? allIds : [...new Set(refs.flatMap((r) => r.steps))];
    steps.set(step.id, { def: step, condition, withRenderer, reads });
  }
  return { def, steps, dependents };
}

/** `assert` evaluates its `that` through ctx.evaluate, so the outputs it reads must be loaded too. */
function assertionReferences(step: StepDef) {
  const that = step.uses === 'assert' ? (step.with as { that?: unknown } | undefined)?.that : undefined;
  if (typeof that !== 'string') return undefined;
  try {
    return compileExpression(that).references;
  } catch {
    return undefined;
  }
}
