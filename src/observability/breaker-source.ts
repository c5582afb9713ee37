import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { loadServices } from '../guardrails/services-store.ts';
import { CIRCUIT_STATE_VALUES, type CircuitSource, type CircuitState } from './metrics.ts';

/** `sq_circuit_state` at scrape time from the breakers the guardrails keep in Redis (shared by all workers). */
export function breakerStates(redis: RedisConnection, keys: Keys): CircuitSource {
  return async () => {
    const names = Object.entries((await loadServices(redis, keys)).services)
      .filter(([, policy]) => policy.circuitBreaker)
      .map(([name]) => name);
    const states = await Promise.all(names.map((name) => redis.hget(keys.guard.service(name).breaker, 'state')));
    return names.map((name, i) => [name, (states[i] && states[i] in CIRCUIT_STATE_VALUES ? states[i] : 'closed') as CircuitState] as const);
  };
}
