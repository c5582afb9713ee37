/**
 * Guardrail events (SPEC §14: budget.*, circuit.*, halt.*). The scripts write them to the
 * global stream (and the run's) in the engine's layout and return them as JSON, so the
 * worker can hand them to its in-process listeners too.
 */
import type { ScenarioEvent } from '../engine/types.ts';

/** Parses the JSON events a guardrail script returned. */
export function parseGuardEvents(raw: readonly string[] | undefined): ScenarioEvent[] {
  return (raw ?? []).map((json) => {
    const e = JSON.parse(json) as ScenarioEvent;
    return { ...e, data: e.data ?? {} };
  });
}
