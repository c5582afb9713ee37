/**
 * A queued run written straight through the run store (createRun), for tests of the engine's
 * scripts without a worker: the meta a client would write, with a 60 s deadline.
 */
import type { Redis } from 'ioredis';
import { createRunStore } from '../../src/engine/store.ts';
import { createKeys } from '../../src/redis/keys.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import type { ScenarioDef } from '../../src/scenario/types.ts';

export async function storeQueuedRun(redis: Redis, prefix: string, def: ScenarioDef, runId: string) {
  const keys = createKeys(prefix);
  const store = createRunStore(redis, keys, { workerId: 'w1' });
  const now = Date.now();
  // As the run hash stores it, and as a worker's run cache hands it to a finish (CachedRun.uncounted).
  const deadline = String(now + 60_000);
  const meta = { scenario: def.name, status: 'queued', createdAt: now, deadline, timeoutMs: 60_000, failFast: 0, maxParallel: def.maxParallel, open: def.steps.length, inflight: 0, failed: 0, def: JSON.stringify(def), input: '{}', mock: 0 };
  await store.createRun(runId, def, compileScenario(def).dependents, meta);
  return { keys, store, now, deadline };
}
