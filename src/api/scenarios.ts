import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadScenario } from '../scenario/load.ts';
import { isScenarioValidationError } from '../scenario/errors.ts';
import type { ScenarioDef } from '../scenario/types.ts';

/** Scenarios that `POST /runs` accepts by name (`{"scenario": "checkout-journey"}`). */
export interface ScenarioRegistry {
  get(name: string): ScenarioDef | undefined;
  names(): string[];
}

const SCENARIO_FILE = /\.(ya?ml|json)$/i;

/** An in-memory registry of already validated scenarios. */
export function scenarioRegistry(defs: readonly ScenarioDef[] = []): ScenarioRegistry {
  const byName = new Map<string, ScenarioDef>();
  for (const def of defs) {
    if (byName.has(def.name)) throw new Error(`two scenarios are named "${def.name}"`);
    byName.set(def.name, def);
  }
  return { get: (name) => byName.get(name), names: () => [...byName.keys()].sort() };
}

/**
 * Loads every `*.yaml|*.yml|*.json` of `dir` (not recursive), reporting all invalid files at
 * once. Handler names are checked at enqueue time, against what live workers advertise.
 */
export async function loadScenarioDir(dir: string): Promise<ScenarioRegistry> {
  const files = (await readdir(dir)).filter((f) => SCENARIO_FILE.test(f)).sort();
  const defs: ScenarioDef[] = [];
  const errors: string[] = [];
  for (const file of files) {
    try {
      defs.push(await loadScenario(join(dir, file)));
    } catch (e) {
      if (!isScenarioValidationError(e)) throw e;
      errors.push(e.format());
    }
  }
  if (errors.length > 0) throw new Error(`invalid scenarios in ${dir}:\n${errors.join('\n')}`);
  return scenarioRegistry(defs);
}
