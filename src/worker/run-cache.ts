import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import { compileScenario, type CompiledScenario } from '../scenario/compile.ts';
import { createLoadCache } from './load-cache.ts';

/** What the guardrails need of a run beyond its scenario (createRun's meta); immutable too. */
export interface RunFacts {
  suite?: string;
  /** `--record`: live outputs of recorded handlers are saved for mock mode. */
  record: boolean;
  /** Steps that run mocked by an enqueue-time credential gate. */
  mocked: ReadonlySet<string>;
}

/** What a worker needs to execute any step of a run; immutable once the run exists. */
export interface CachedRun extends CompiledScenario {
  runId: string;
  input: Record<string, unknown>;
  deadline: number;
  mock: boolean;
  /** When the run's side data (checkpoints, artifacts, logs) may expire: deadline + retention. */
  keepUntil: number;
  facts: RunFacts;
  /**
   * The deadline as the run hash stores it, when the run has no more steps than its
   * maxParallel and so never counts in-flight steps: a succeeded finish sends it and reads
   * nothing of the run hash (finishAttempt's ARGV[15]).
   */
  uncounted?: string;
}

/** For runs created without a retention (older clients): a week, like the client default. */
const SIDE_DATA_RETENTION_MS = 7 * 24 * 3_600_000;

/** Compiled steps kept for all scenarios together; a 1000-step scenario weighs 1000. */
const SCENARIO_CACHE_STEPS = 20_000;

/**
 * Compiled scenarios by their stored definition text: the runs of one scenario (a suite, a
 * CI matrix) share one compilation instead of holding a copy each. LRU, bounded by steps.
 */
function createScenarioCache(maxSteps: number) {
  const entries = new Map<string, CompiledScenario>();
  let steps = 0;
  return (defText: string): CompiledScenario => {
    let compiled = entries.get(defText);
    if (compiled) {
      entries.delete(defText);
    } else {
      compiled = compileScenario(JSON.parse(defText) as ScenarioDef);
      steps += compiled.def.steps.length;
    }
    entries.set(defText, compiled);
    for (const [oldest, old] of entries) {
      if (steps <= maxSteps || oldest === defText) break;
      entries.delete(oldest);
      steps -= old.def.steps.length;
    }
    return compiled;
  };
}

const NO_STEPS: ReadonlySet<string> = new Set();

/**
 * Bounded LRU of compiled runs, so a step costs no scenario parse or CEL compile after the
 * run's first step on this worker. Concurrent loads of one run share a promise. One read of
 * the run hash a run: the guardrails' facts (suite, `--record`, credential gates) come in it
 * too, so a run's first step waits on one round trip, not two in turn.
 */
export function createRunCache(redis: RedisConnection, keys: Keys, capacity = 256) {
  const compile = createScenarioCache(SCENARIO_CACHE_STEPS);

  async function load(runId: string): Promise<CachedRun | undefined> {
    const [def, input, deadline, mock, retentionMs, suite, record, gate] = await redis.hmget(
      keys.run(runId), 'def', 'input', 'deadline', 'mock', 'retentionMs', 'suite', 'record', 'gate');
    if (!def) return undefined;
    const compiled = compile(def);
    return {
      ...compiled,
      step: compiled.step,
      runId,
      input: JSON.parse(input ?? '{}') as Record<string, unknown>,
      deadline: Number(deadline),
      mock: mock === '1',
      keepUntil: Number(deadline) + Number(retentionMs ?? SIDE_DATA_RETENTION_MS),
      ...(deadline && compiled.def.steps.length <= compiled.def.maxParallel ? { uncounted: deadline } : {}),
      facts: {
        suite: suite ?? undefined,
        record: record === '1',
        mocked: gate ? new Set((JSON.parse(gate) as { mock?: string[] }).mock ?? []) : NO_STEPS,
      },
    };
  }

  return createLoadCache(capacity, load);
}

export type RunCache = ReturnType<typeof createRunCache>;
