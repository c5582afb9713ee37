import { compileExpression, type CompiledExpression, type ExpressionContext, type PreparedContext } from './cel.ts';
import { buildDag } from './dag.ts';
import { compileTemplates, type TemplateRenderer } from './templates.ts';
import type { ScenarioDef, StepDef } from './types.ts';

/** A step ready to run: its condition and `with` templates compiled once. */
export interface CompiledStep {
  readonly def: StepDef;
  /** The compiled `if`; undefined when the step has none. */
  readonly if?: CompiledExpression;
  /** Step ids read by `if`, templates and `assert`'s `that`: the outputs the engine must load. */
  readonly referencedSteps: readonly string[];
  /** Secret names the templates read. */
  readonly referencedSecrets: readonly string[];
  /** Steps that need this one. */
  readonly dependents: readonly string[];
  /** The step's `with` with templates evaluated for one attempt. */
  render(context: ExpressionContext | PreparedContext): unknown;
}

/** A validated scenario with its graph facts; steps compile on first use. */
export interface CompiledScenario {
  readonly def: ScenarioDef;
  readonly topoOrder: readonly string[];
  readonly roots: readonly string[];
  readonly dependents: Readonly<Record<string, readonly string[]>>;
  /** The compiled step; throws for an id the scenario does not have. */
  step(id: string): CompiledStep;
}

/**
 * Compiles a validated `ScenarioDef`. Pure and cheap: only the graph is built here; each
 * step's CEL is compiled the first time the step is asked for, because a worker usually
 * needs one step of a large scenario. Cache the result per run.
 */
export function compileScenario(def: ScenarioDef): CompiledScenario {
  const dag = buildDag(def.steps);
  const defs = new Map(def.steps.map((step) => [step.id, step]));
  const compiled = new Map<string, CompiledStep>();
  return {
    def,
    topoOrder: dag.topoOrder,
    roots: dag.roots,
    dependents: dag.dependents,
    step(id) {
      const cached = compiled.get(id);
      if (cached) return cached;
      const stepDef = defs.get(id);
      if (!stepDef) throw new Error(`scenario "${def.name}" has no step "${id}"`);
      const step = compileStep(stepDef, dag.dependents[id] ?? []);
      compiled.set(id, step);
      return step;
    },
  };
}

function compileStep(def: StepDef, dependents: readonly string[]): CompiledStep {
  const condition = def.if === undefined ? undefined : compileExpression(def.if);
  const templates: TemplateRenderer = compileTemplates(def.with);
  const that = assertExpression(def);
  const referencedSteps = new Set([...(condition?.references.steps ?? []), ...templates.references.steps, ...(that?.references.steps ?? [])]);
  return {
    def,
    if: condition,
    referencedSteps: [...referencedSteps],
    referencedSecrets: templates.references.secrets,
    dependents,
    render: (context) => templates.render(context),
  };
}

/** `assert` evaluates `with.that` itself (SPEC §4); its step references count like an `if`'s. */
function assertExpression(def: StepDef): CompiledExpression | undefined {
  const that = typeof def.with === 'object' && def.with !== null ? (def.with as { that?: unknown }).that : undefined;
  if (def.uses !== 'assert' || typeof that !== 'string' || that.includes('{{')) return undefined;
  return compileExpression(that);
}
