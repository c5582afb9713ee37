/**
 * Every Redis key of the engine. All keys start with the prefix, so `{sq}` as prefix puts
 * them in one Redis Cluster slot; scripts receive every key they touch in KEYS.
 */

export const STEP_QUEUE = 'steps';
/**
 * Run and group deadline jobs: delayed jobs of their own queue, not of the step queue. So a
 * deadline fires while every step slot is busy, the step queue's counts are step jobs only,
 * and BullMQ's step loop is not steered by far-off delayed jobs (each completion reports the
 * next due time, and the loop then fetches differently; docs/performance.md). Older clients'
 * deadline jobs in the step queue are still processed there.
 */
export const DEADLINE_QUEUE = 'deadlines';

export interface Keys {
  readonly prefix: string;
  run(runId: string): string;
  /** The 10 keys every engine script takes, in the order of includes/run-core.lua. */
  runScriptKeys(runId: string): string[];
  runEvents(runId: string): string;
  runOutputs(runId: string): string;
  runAttempts(runId: string): string;
  runSteps(runId: string): string;
  runGroups(runId: string): string;
  runCheckpoints(runId: string): string;
  runArtifacts(runId: string): string;
  /** Handler log lines of every attempt, in order (list of JSON {step, attempt, line}), capped per attempt. */
  runLogs(runId: string): string;
  readonly runsIndex: string;
  readonly activeRuns: string;
  readonly globalEvents: string;
  readonly control: string;
  readonly workers: string;
  worker(workerId: string): string;
  /** Redis Function libraries of the workers (src/redis/functions.ts): name -> last used, ms. */
  readonly functions: string;
  /** Keys of the guardrails (src/guardrails). */
  readonly guard: GuardKeys;
  /** Keys of the reaper (src/recovery). */
  readonly recovery: RecoveryKeys;
}

export interface RecoveryKeys {
  /** One pass at a time cluster-wide: the owner's token, with an expiry. */
  readonly lock: string;
  /** The last report (JSON), for `GET /recovery/status`. */
  readonly last: string;
}

/** Per-service keys: policy, permits, rate window, breaker, spend. */
export interface ServiceKeys {
  readonly policy: string;
  readonly permits: string;
  readonly rate: string;
  readonly breaker: string;
  readonly failures: string;
  readonly probes: string;
  readonly stats: string;
  readonly spend: string;
}

/** A budget scope: limits and committed spend in a hash, live reservations in a zset. */
export interface BudgetKeys {
  readonly budget: string;
  readonly reservations: string;
}

export interface GuardKeys {
  /** services.yaml as applied (JSON) and its version counter. */
  readonly services: string;
  readonly servicesVersion: string;
  /** Global limits: maxConcurrentCalls and the daily budget. */
  readonly policy: string;
  /** Permits of all services together (maxConcurrentCalls). */
  readonly permits: string;
  /** Kill switch: field `*` (global) or `scenario:<name>` -> JSON {reason, at}. */
  readonly halt: string;
  /** Held by the one worker that sweeps halted runs this second. */
  readonly haltSweepLock: string;
  service(name: string): ServiceKeys;
  run(runId: string): BudgetKeys;
  suite(suiteId: string): BudgetKeys;
  /** `date` is the UTC day, YYYY-MM-DD. */
  daily(date: string): BudgetKeys;
  recordings(scenario: string): string;
  readonly recordingsIndex: string;
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
    runGroups: (id) => `${run(id)}:groups`,
    runCheckpoints: (id) => `${run(id)}:ckpt`,
    runArtifacts: (id) => `${run(id)}:art`,
    runLogs: (id) => `${run(id)}:logs`,
    runsIndex: `${prefix}:runs`,
    activeRuns,
    globalEvents,
    control: `${prefix}:control`,
    workers: `${prefix}:workers`,
    worker: (id) => `${prefix}:worker:${id}`,
    functions: `${prefix}:functions`,
    guard: createGuardKeys(prefix, run),
    recovery: { lock: `${prefix}:recovery:lock`, last: `${prefix}:recovery:last` },
  };
}

function createGuardKeys(prefix: string, run: (id: string) => string): GuardKeys {
  const scope = (base: string): BudgetKeys => ({ budget: `${base}:budget`, reservations: `${base}:budget:res` });
  const services = new Map<string, ServiceKeys>();
  return {
    services: `${prefix}:services`,
    servicesVersion: `${prefix}:services:version`,
    policy: `${prefix}:guard:policy`,
    permits: `${prefix}:guard:permits`,
    halt: `${prefix}:halt`,
    haltSweepLock: `${prefix}:halt:sweep`,
    service(name) {
      // Per admission and settle: made once per service name (a handful), not every time.
      let made = services.get(name);
      if (made) return made;
      const base = `${prefix}:svc:${name}`;
      made = {
        policy: `${base}:policy`,
        permits: `${base}:permits`,
        rate: `${base}:rate`,
        breaker: `${base}:breaker`,
        failures: `${base}:failures`,
        probes: `${base}:probes`,
        stats: `${base}:stats`,
        spend: `${base}:spend`,
      };
      if (services.size < 1024) services.set(name, made);
      return made;
    },
    run: (id) => scope(run(id)),
    suite: (id) => scope(`${prefix}:suite:${id}`),
    daily: (date) => scope(`${prefix}:daily:${date}`),
    recordings: (scenario) => `${prefix}:rec:${scenario}`,
    recordingsIndex: `${prefix}:rec`,
  };
}

/** All keys of one run, for retention and cleanup. */
export function runKeyList(keys: Keys, runId: string): string[] {
  const own = keys.runScriptKeys(runId).filter((k) => k !== keys.globalEvents && k !== keys.activeRuns);
  const budget = keys.guard.run(runId);
  return [...own, keys.runCheckpoints(runId), keys.runArtifacts(runId), keys.runLogs(runId), budget.budget, budget.reservations];
}
