import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import { compileScenario, type CompiledScenario } from '../scenario/compile.ts';

/** What a worker needs to execute any step of a run; immutable once the run exists. */
export interface CachedRun extends CompiledScenario {
  runId: string;
  input: Record<string, unknown>;
  deadline: number;
  mock: boolean;
}

/**
 * Bounded LRU of compiled runs, so a step costs no scenario parse or CEL compile after the
 * run's first step on this worker. Concurrent loads of one run share a promise.
 */
export function createRunCache(redis: RedisConnection, keys: Keys, capacity = 256) {
  const entries = new Map<string, Promise<CachedRun | undefined>>();

  async function load(runId: string): Promise<CachedRun | undefined> {
    const [def, input, deadline, mock] = await redis.hmget(keys.run(runId), 'def', 'input', 'deadline', 'mock');
    if (!def) return undefined;
    const compiled = compileScenario(JSON.parse(def) as ScenarioDef);
    return {
      ...compiled,
      step: compiled.step,
      runId,
      input: JSON.parse(input ?? '{}') as Record<string, unknown>,
      deadline: Number(deadline),
      mock: mock === '1',
    };
  }

  return {
    get(runId: string): Promise<CachedRun | undefined> {
      let entry = entries.get(runId);
      if (entry) {
        entries.delete(runId);
        entries.set(runId, entry);
        return entry;
      }
      entry = load(runId);
      entry.then((run) => run ?? entries.delete(runId)).catch(() => entries.delete(runId));
      entries.set(runId, entry);
      if (entries.size > capacity) entries.delete(entries.keys().next().value as string);
      return entry;
    },
    get size() {
      return entries.size;
    },
  };
}

export type RunCache = ReturnType<typeof createRunCache>;
