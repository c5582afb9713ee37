/**
 * What `services status` shows (SPEC §8): per service its limits, attempts in flight, use
 * of the rate window, breaker state and spend; globally maxConcurrentCalls, the daily
 * budget and any halt. Read-only: lapsed leases are not counted, nothing is cleaned.
 */
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { CostTotals } from '../engine/types.ts';
import { listHalts, type HaltInfo } from './halt.ts';
import { loadServices } from './services-store.ts';
import type { DailyBudget, ServicePolicy } from './services-schema.ts';

export interface BreakerStatus {
  state: 'closed' | 'open' | 'half_open';
  since?: string;
  /** Transient failures counted in the current window (closed state). */
  failures: number;
  /** Half-open probes in flight. */
  probes: number;
  transitions: { open: number; half_open: number; closed: number };
}

export interface ServiceStatus {
  name: string;
  policy: ServicePolicy;
  inFlight: number;
  /** Admissions within the current rate window (when a rate limit is set). */
  windowUse?: { used: number; max: number; perMs: number };
  breaker?: BreakerStatus;
  spend: CostTotals;
  counters: Record<string, number>;
}

export interface GuardStatus {
  services: ServiceStatus[];
  maxConcurrentCalls?: { limit: number; inFlight: number };
  daily?: { day: string; budget: DailyBudget; spent: { usd: number; tokens: number; calls: number }; reserved: number };
  halts: Record<string, HaltInfo>;
}

const numbers = (hash: Record<string, string>) => Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Number(v)]));

async function serviceStatus(redis: RedisConnection, keys: Keys, name: string, policy: ServicePolicy, now: number): Promise<ServiceStatus> {
  const k = keys.guard.service(name);
  const window = policy.rateLimit ? policy.rateLimit.perMs + Math.min(50, Math.floor(policy.rateLimit.perMs / 20)) : 0;
  const [inFlight, used, breaker, failures, probes, spend, stats] = await Promise.all([
    redis.zcount(k.permits, `(${now}`, '+inf'),
    policy.rateLimit ? redis.zcount(k.rate, `(${now - window}`, '+inf') : Promise.resolve(0),
    redis.hgetall(k.breaker),
    policy.circuitBreaker ? redis.zcount(k.failures, `(${now - policy.circuitBreaker.windowMs}`, '+inf') : Promise.resolve(0),
    redis.zcount(k.probes, `(${now}`, '+inf'),
    redis.hgetall(k.spend),
    redis.hgetall(k.stats),
  ]);
  const status: ServiceStatus = {
    name,
    policy,
    inFlight,
    spend: {
      usd: Math.round(Number(spend.usd ?? 0) * 1e6) / 1e6,
      tokens: { input: Number(spend['tokens.input'] ?? 0), output: Number(spend['tokens.output'] ?? 0) },
      calls: Number(spend.calls ?? 0),
    },
    counters: numbers(stats),
  };
  if (policy.rateLimit) status.windowUse = { used, max: policy.rateLimit.max, perMs: policy.rateLimit.perMs };
  if (policy.circuitBreaker) {
    const b = numbers(breaker);
    status.breaker = {
      state: (breaker.state as BreakerStatus['state']) ?? 'closed',
      ...(breaker.since ? { since: new Date(Number(breaker.since)).toISOString() } : {}),
      failures,
      probes,
      transitions: { open: b['transitions:open'] ?? 0, half_open: b['transitions:half_open'] ?? 0, closed: b['transitions:closed'] ?? 0 },
    };
  }
  return status;
}

/** Reads the status of every applied service (or only `name`). */
export async function readGuardStatus(redis: RedisConnection, keys: Keys, options: { service?: string; now?: number } = {}): Promise<GuardStatus> {
  const now = options.now ?? (await redisTime(redis));
  const config = await loadServices(redis, keys);
  const names = Object.keys(config.services).filter((n) => !options.service || n === options.service);
  const status: GuardStatus = {
    services: await Promise.all(names.map((n) => serviceStatus(redis, keys, n, config.services[n], now))),
    halts: await listHalts(redis, keys),
  };
  if (config.maxConcurrentCalls !== undefined) {
    status.maxConcurrentCalls = { limit: config.maxConcurrentCalls, inFlight: await redis.zcount(keys.guard.permits, `(${now}`, '+inf') };
  }
  const daily = config.budgets.daily;
  if (daily) {
    const day = new Date(now).toISOString().slice(0, 10);
    const k = keys.guard.daily(day);
    const [spent, reserved] = await Promise.all([redis.hmget(k.budget, 'spent:usd', 'spent:tokens', 'spent:calls'), redis.zcount(k.reservations, `(${now}`, '+inf')]);
    status.daily = { day, budget: daily, spent: { usd: Number(spent[0] ?? 0) / 1e6, tokens: Number(spent[1] ?? 0), calls: Number(spent[2] ?? 0) }, reserved };
  }
  return status;
}

/** Redis server time in ms: the clock the guardrail scripts use. */
async function redisTime(redis: RedisConnection): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}
