import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { compileScenario } from '../scenario/compile.ts';
import type { ScenarioDef, StepDef } from '../scenario/types.ts';
import { storedOutput } from './outputs.ts';
import { readRun } from './summary.ts';

/** Which steps a resumed run takes over from the old one, and why the others run again. */
export interface ResumePlan {
  fromRunId: string;
  /** The old run's scenario name and input, to check and default against. */
  from: { scenario: string; input: Record<string, unknown> };
  /** Step id -> output JSON of the old run. */
  reused: Map<string, string>;
  rerun: { stepId: string; why: string }[];
}

/** What makes a step produce the same output again: handler, input templates, condition, needs, service. */
function identity(step: StepDef): string {
  return JSON.stringify([step.uses, step.with ?? null, step.if ?? null, [...step.needs].sort(), step.service ?? null]);
}

/**
 * Plans `run FILE --resume RUN_ID` (SPEC §12): a step is reused when it succeeded (or was
 * itself reused) in the old run, is defined the same way in the new scenario, and every
 * step it needs is reused too — an output computed from outputs that will change is stale.
 * Undefined when the old run does not exist.
 */
export async function planResume(redis: RedisConnection, keys: Keys, fromRunId: string, def: ScenarioDef): Promise<ResumePlan | undefined> {
  const old = await readRun(redis, keys, fromRunId);
  if (!old) return undefined;
  const outputs = await redis.hgetall(keys.runOutputs(fromRunId));
  const oldSteps = new Map(old.def.steps.map((s) => [s.id, s]));
  const byId = new Map(def.steps.map((s) => [s.id, s]));
  const plan: ResumePlan = { fromRunId, from: { scenario: old.def.name, input: old.input }, reused: new Map(), rerun: [] };
  for (const id of compileScenario(def).topoOrder) {
    const step = byId.get(id) as StepDef;
    const before = oldSteps.get(id);
    const status = old.steps[`st|${id}`];
    // Defined exactly when the step succeeded or was reused.
    const output = storedOutput(status, outputs[id]);
    let why: string | undefined;
    if (!before) why = 'not in the old run';
    else if (output === undefined) why = `was ${status ?? 'pending'}`;
    else if (identity(before) !== identity(step)) why = 'definition changed';
    else if (step.needs.some((n) => !plan.reused.has(n))) why = 'a step it needs runs again';
    if (why || output === undefined) plan.rerun.push({ stepId: id, why: why ?? 'has no output' });
    else plan.reused.set(id, output);
  }
  return plan;
}
