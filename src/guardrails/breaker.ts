/**
 * The shared circuit breaker (SPEC §8). Its state machine lives in the Lua include
 * guard-breaker.lua and runs inside the admission and settle scripts; this is the manual
 * side: `services reset NAME`.
 */
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { runScript } from '../redis/scripts.ts';
import type { ScenarioEvent } from '../engine/types.ts';
import { GLOBAL_EVENTS_CAP } from '../engine/events.ts';
import { parseGuardEvents } from './events.ts';

/** Closes a service's breaker and forgets its failures; returns the state it had. */
export async function resetBreaker(redis: RedisConnection, keys: Keys, service: string): Promise<{ before: string; events: ScenarioEvent[] }> {
  const k = keys.guard.service(service);
  const raw = (await runScript(redis, 'resetBreaker', [k.breaker, k.failures, k.probes, keys.globalEvents, k.stats], [service, GLOBAL_EVENTS_CAP])) as [string, string[]];
  return { before: raw[0], events: parseGuardEvents(raw[1]) };
}
