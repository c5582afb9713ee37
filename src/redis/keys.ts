/**
 * Every Redis key of the engine. All keys start with the prefix, so `{sq}` as prefix puts
 * them in one Redis Cluster slot; scripts receive every key they touch in KEYS.
 */

export const STEP_QUEUE = 'steps';

export interface Keys {
  readonly prefix: string;
  run(runId: string): string;
  /** The 10 keys every engine script takes, in the order of includes/run-state.lua. */
  runScriptKeys(runId: string): string[];
  runEvents(runId: string): string;
  runOutputs(runId: string): string;
  runAttempts(runId: string): string;
  runSteps(runId: string): string;
  runCheckpoints(runId: string): string;
  runArtifacts(runId: string): string;
  readonly runsIndex: string;
  readonly activeRuns: string;
  readonly globalEvents: string;
  readonly control: string;
  readonly workers: string;
  worker(workerId: string): string;
}

/** Builds the key set for one prefix. */
export function createKeys(prefix: string): Keys {
  const run = (id: string) => `${prefix}:run:${id}`;
  const globalEvents = `${prefix}:events`;
  const activeRuns = `${prefix}:runs:active`;
  return {
    prefix,
    run,
    runScriptKeys: (id) => [
      run(id),
      `${run(id)}:steps`,
      `${run(id)}:dag`,
      `${run(id)}:out`,
      `${run(id)}:att`,
      `${run(id)}:events`,
      globalEvents,
      `${run(id)}:wait`,
      `${run(id)}:groups`,
      activeRuns,
    ],
    runEvents: (id) => `${run(id)}:events`,
    runOutputs: (id) => `${run(id)}:out`,
    runAttempts: (id) => `${run(id)}:att`,
    runSteps: (id) => `${run(id)}:steps`,
    runCheckpoints: (id) => `${run(id)}:ckpt`,
    runArtifacts: (id) => `${run(id)}:art`,
    runsIndex: `${prefix}:runs`,
    activeRuns,
    globalEvents,
    control: `${prefix}:control`,
    workers: `${prefix}:workers`,
    worker: (id) => `${prefix}:worker:${id}`,
  };
}

/** All keys of one run, for retention and cleanup. */
export function runKeyList(keys: Keys, runId: string): string[] {
  const own = keys.runScriptKeys(runId).filter((k) => k !== keys.globalEvents && k !== keys.activeRuns);
  return [...own, keys.runCheckpoints(runId), keys.runArtifacts(runId)];
}
