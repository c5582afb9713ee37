/**
 * Credential gates (SPEC §10). Workers advertise the names of the environment variables
 * they hold (never values); at enqueue a step whose credentials no live worker holds gets
 * its `onMissingCredentials` policy at once, and a worker checks again before each attempt.
 */
import { CREDENTIAL_NAME_PATTERN } from '../scenario/schema.ts';
import type { MissingCredentialsPolicy, ScenarioDef, StepDef } from '../scenario/types.ts';
import type { WorkerInfo } from '../worker/heartbeat.ts';

/** Names of the credentials this process could supply: every set environment variable name. */
export function heldCredentialNames(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.keys(env)
    .filter((name) => CREDENTIAL_NAME_PATTERN.test(name) && env[name])
    .sort();
}

/** Names of `required` that no single live worker holds together; [] when one holds them all. */
export function missingOnWorkers(required: readonly string[], workers: readonly WorkerInfo[]): string[] {
  if (required.length === 0) return [];
  const sets = workers.map((w) => new Set(w.credentials ?? []));
  if (sets.some((held) => required.every((name) => held.has(name)))) return [];
  const anywhere = new Set(sets.flatMap((s) => [...s]));
  const nowhere = required.filter((name) => !anywhere.has(name));
  // Each name is held somewhere, but never all by one worker: all of them are the problem.
  return nowhere.length > 0 ? nowhere : [...required];
}

/** The message every gate decision carries: which names are missing, and the policy applied. */
export function missingMessage(missing: readonly string[], policy: MissingCredentialsPolicy): string {
  return `credentials missing: ${missing.join(', ')} (no live worker holds them; onMissingCredentials: ${policy})`;
}

/** A step's gate decided at enqueue. */
export interface StepGate {
  id: string;
  action: 'skip' | 'fail';
  message: string;
  missing: string[];
}

/** What the enqueue-time gate decided for a whole run. */
export interface EnqueueGates {
  /** Set when scenario-level credentials are missing under `skip`: the whole run is skipped. */
  skipRun?: { message: string; missing: string[] };
  steps: StepGate[];
  /** Steps that run mocked because of `onMissingCredentials: mock`. */
  mock: string[];
}

/**
 * Decides gates from the live workers' advertised names. With no live worker nothing is
 * decided here: a run enqueued before its workers start must not be skipped for that.
 */
export function enqueueGates(def: ScenarioDef, workers: readonly WorkerInfo[]): EnqueueGates {
  const gates: EnqueueGates = { steps: [], mock: [] };
  if (workers.length === 0) return gates;
  const runMissing = missingOnWorkers(def.credentials, workers);
  if (runMissing.length > 0 && def.onMissingCredentials === 'skip') {
    gates.skipRun = { message: missingMessage(runMissing, 'skip'), missing: runMissing };
    return gates;
  }
  for (const step of def.steps) {
    const missing = missingOnWorkers(step.credentials, workers);
    if (missing.length === 0) continue;
    if (step.onMissingCredentials === 'mock') gates.mock.push(step.id);
    else gates.steps.push({ id: step.id, action: step.onMissingCredentials, message: missingMessage(missing, step.onMissingCredentials), missing });
  }
  return gates;
}

/** The step's declared credentials this worker does not hold. */
export function missingHere(step: StepDef, present: Readonly<Record<string, string>>): string[] {
  return step.credentials.filter((name) => !present[name]);
}
