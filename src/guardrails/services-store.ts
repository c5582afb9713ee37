/**
 * services.yaml in Redis. `applyServices` writes the document (for reading back) and one
 * flat policy hash per service plus the global policy hash, which the admission script
 * reads on every attempt: a change is effective for the next attempt on every worker,
 * without a restart. Workers keep the document (pricing) in a cache refreshed on the
 * control channel's `services` message and by polling the version key.
 */
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { toMicroUsd } from './cost.ts';
import { EMPTY_SERVICES, ServicesConfig, type ServicePolicy } from './services-schema.ts';

/** Flat fields of a service's policy hash, as the Lua scripts read them. */
export function servicePolicyFields(policy: ServicePolicy): Record<string, string | number> {
  const f: Record<string, string | number> = {};
  if (policy.rateLimit) Object.assign(f, { 'rate.max': policy.rateLimit.max, 'rate.perMs': policy.rateLimit.perMs });
  if (policy.maxConcurrency !== undefined) f.maxConcurrency = policy.maxConcurrency;
  const cb = policy.circuitBreaker;
  if (cb) {
    Object.assign(f, {
      'cb.failureThreshold': cb.failureThreshold,
      'cb.windowMs': cb.windowMs,
      'cb.resetTimeoutMs': cb.resetTimeoutMs,
      'cb.halfOpenMaxCalls': cb.halfOpenMaxCalls,
      'cb.whenOpen': cb.whenOpen,
    });
  }
  // Never empty: an empty HSET is an error, and the hash marks the service as known.
  f.known = 1;
  return f;
}

/** Flat fields of the global policy hash. */
export function globalPolicyFields(config: ServicesConfig): Record<string, string | number> {
  const f: Record<string, string | number> = { applied: 1 };
  if (config.maxConcurrentCalls !== undefined) f.maxConcurrentCalls = config.maxConcurrentCalls;
  const daily = config.budgets.daily;
  if (daily) {
    if (daily.usd !== undefined) f['daily.usd'] = toMicroUsd(daily.usd);
    if (daily.tokens !== undefined) f['daily.tokens'] = daily.tokens;
    if (daily.calls !== undefined) f['daily.calls'] = daily.calls;
    f['daily.onExceed'] = daily.onExceed;
  }
  return f;
}

/** Reads the applied services document; the empty one when nothing was applied. */
export async function loadServices(redis: RedisConnection, keys: Keys): Promise<ServicesConfig> {
  const raw = await redis.get(keys.guard.services);
  if (!raw) return EMPTY_SERVICES;
  return ServicesConfig.parse(JSON.parse(raw));
}

/**
 * Replaces the applied policies in one transaction and tells the workers. Breaker state,
 * permits and spend of a service survive a re-apply; a service left out loses its limits.
 * Returns the new version.
 */
export async function applyServices(redis: RedisConnection, keys: Keys, config: ServicesConfig): Promise<number> {
  const previous = await loadServices(redis, keys);
  const tx = redis.multi();
  for (const name of Object.keys(previous.services)) tx.del(keys.guard.service(name).policy);
  for (const [name, policy] of Object.entries(config.services)) tx.hset(keys.guard.service(name).policy, servicePolicyFields(policy));
  tx.del(keys.guard.policy);
  tx.hset(keys.guard.policy, globalPolicyFields(config));
  tx.set(keys.guard.services, JSON.stringify(config));
  tx.incr(keys.guard.servicesVersion);
  const res = await tx.exec();
  const failed = res?.find(([err]) => err);
  if (!res || failed) throw failed?.[0] ?? new Error('services apply: transaction aborted');
  const version = Number(res.at(-1)?.[1]);
  await redis.publish(keys.control, JSON.stringify({ type: 'services', version }));
  return version;
}

export interface ServicesCache {
  /** The last applied document this process has seen. */
  current(): ServicesConfig;
  /** Re-reads now if the version moved. */
  refresh(): Promise<void>;
  stop(): void;
}

/** Keeps the applied document in memory; polls the version every `pollMs` as a fallback to pub/sub. */
export async function createServicesCache(redis: RedisConnection, keys: Keys, options: { pollMs?: number; onError?: (err: unknown) => void } = {}): Promise<ServicesCache> {
  let config = EMPTY_SERVICES;
  let version = '';
  let refreshing: Promise<void> | undefined;
  async function load(): Promise<void> {
    const v = (await redis.get(keys.guard.servicesVersion)) ?? '';
    if (v === version) return;
    config = await loadServices(redis, keys);
    version = v;
  }
  const refresh = () => {
    refreshing ??= load().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };
  await refresh();
  const timer = setInterval(() => refresh().catch((err: unknown) => options.onError?.(err)), options.pollMs ?? 1000);
  timer.unref();
  return {
    current: () => config,
    refresh,
    stop: () => clearInterval(timer),
  };
}
