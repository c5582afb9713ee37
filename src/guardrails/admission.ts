/**
 * The three scripts around one attempt: `admitAttempt` (every limit at once, before it),
 * `renewLease` (while it runs) and `settleAttempt` (after it). This module only builds
 * their keys and arguments and reads their answers; the policies live in the Lua includes
 * guard-breaker, guard-budget and the admission script itself.
 */
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { runScript } from '../redis/scripts.ts';
import { runChained } from '../redis/chain.ts';
import type { ScriptInvocation } from '../engine/store.ts';
import type { CostTotals, ScenarioEvent } from '../engine/types.ts';
import type { Reservation } from './cost.ts';
import { toMicroUsd } from './cost.ts';
import { GLOBAL_EVENTS_CAP } from '../engine/events.ts';
import { parseGuardEvents } from './events.ts';
import type { GuardFunctions } from './guard-functions.ts';
import type { HaltInfo } from './halt.ts';

/** Who an attempt is, and which scopes it spends in. */
export interface AttemptIdentity {
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly workerId: string;
  readonly scenario: string;
  readonly service?: string;
  readonly suite?: string;
  /** UTC day of the daily budget, YYYY-MM-DD. */
  readonly day: string;
}

export type WaitReason = 'circuit_open' | 'half_open_busy' | 'concurrency' | 'max_concurrent_calls' | 'rate_limited' | 'budget_settling';

export type Admission =
  /** `held`: what it took besides the service's permit, for the settle (admitAttempt's header). */
  | { kind: 'admitted'; probe: boolean; held?: string; warnings: string[]; events: ScenarioEvent[] }
  | { kind: 'wait'; delayMs: number; reason: WaitReason; events: ScenarioEvent[] }
  | { kind: 'fail'; errorKind: 'circuit_open' | 'budget_exceeded'; message: string; events: ScenarioEvent[] }
  | { kind: 'halted'; halt: HaltInfo; events: ScenarioEvent[] };

/** How an attempt ended, as the circuit breaker counts it. */
export type BreakerOutcome = 'ok' | 'transient' | 'other' | 'none';

/** The reservation's member in every scope's zset. */
export function reservationMember(leaseId: string, r: Reservation): string {
  return `${leaseId}|${r.usdMicro}|${r.tokens}|${r.calls}`;
}

function scopeKeys(keys: Keys, who: Pick<AttemptIdentity, 'runId' | 'service' | 'suite' | 'day'>) {
  const run = keys.guard.run(who.runId);
  // Absent scopes get keys nobody writes, so every script takes a fixed key list.
  const suite = keys.guard.suite(who.suite ?? '');
  const daily = keys.guard.daily(who.day);
  /** Budget and reservations of run, suite and daily scope, in the scripts' KEYS order. */
  const budgets = [run.budget, run.reservations, suite.budget, suite.reservations, daily.budget, daily.reservations];
  return { svc: keys.guard.service(who.service ?? ''), run, suite, daily, budgets };
}

/**
 * admitAttempt's 17 keys (its header says which). Also the template of the keys the worker's
 * fused completion builds in Lua when it admits a step on hand-over (guardKeysLua there).
 */
export function admitKeys(keys: Keys, who: Pick<AttemptIdentity, 'runId' | 'service' | 'suite' | 'day'>): string[] {
  const { svc, budgets } = scopeKeys(keys, who);
  return [keys.guard.halt, keys.guard.policy, keys.guard.permits, svc.policy, svc.permits, svc.rate, svc.breaker, svc.probes, svc.stats, ...budgets, keys.globalEvents, keys.runEvents(who.runId)];
}

/** admitAttempt's answer, {code, a, b, events}, read. */
export function admissionOf(raw: readonly [number | string, string, string, readonly string[]], claimed?: unknown): Admission & { claimed?: unknown } {
  const code = Number(raw[0]);
  const [, a, b] = raw;
  const events = parseGuardEvents(raw[3] as string[]);
  if (code === 1) return { kind: 'admitted', probe: a.charAt(0) === '1', held: a.length > 1 ? a.slice(2) : undefined, warnings: b ? b.split(',') : [], events, ...(claimed ? { claimed } : {}) };
  if (code === 2) return { kind: 'wait', delayMs: Number(a), reason: b as WaitReason, events };
  if (code === 3) return { kind: 'fail', errorKind: a as 'circuit_open' | 'budget_exceeded', message: b, events };
  return { kind: 'halted', halt: JSON.parse(a) as HaltInfo, events };
}

/** Asks the admission script; nothing is taken unless the answer is `admitted`. */
export async function admitAttempt(
  redis: RedisConnection,
  keys: Keys,
  who: AttemptIdentity,
  request: { leaseId: string; leaseMs: number; live: boolean; estimate: Reservation; claim?: ScriptInvocation },
  functions?: GuardFunctions,
): Promise<Admission & { claimed?: unknown }> {
  const admit: ScriptInvocation = {
    keys: admitKeys(keys, who),
    args: [
      request.leaseId,
      request.leaseMs,
      who.scenario,
      who.service ?? '',
      request.live ? '1' : '0',
      request.estimate.usdMicro,
      request.estimate.tokens,
      request.estimate.calls,
      who.runId,
      who.stepId,
      who.attempt,
      who.workerId,
      GLOBAL_EVENTS_CAP,
      keys.control,
      who.suite ? '1' : '0',
    ],
  };
  // With the claim's invocation, an admitted attempt is claimed in the same script: one round trip.
  let raw: [number, string, string, string[]];
  let claimed: unknown;
  if (request.claim) {
    const chained = functions ? functions.admit(admit, request.claim) : runChained(redis, 'admitAttempt', admit, 'startAttempt', request.claim);
    [raw, claimed] = (await chained) as [typeof raw, unknown];
  } else {
    raw = (await (functions ? functions.admit(admit) : runScript(redis, 'admitAttempt', admit.keys, admit.args))) as typeof raw;
  }
  return admissionOf(raw, claimed);
}

/** Keeps a running attempt's permits, probe slot and reservations; returns how many entries it still held. */
export async function renewLease(redis: RedisConnection, keys: Keys, who: AttemptIdentity, lease: { leaseId: string; member: string; leaseMs: number }): Promise<number> {
  const { svc, run, suite, daily } = scopeKeys(keys, who);
  const n = await runScript(
    redis,
    'renewLease',
    [keys.guard.permits, svc.permits, svc.probes, run.reservations, suite.reservations, daily.reservations],
    [lease.leaseId, lease.member, lease.leaseMs],
  );
  return Number(n);
}

/** What settleAttempt takes: the attempt's lease and reservation, how it ended, what it used. */
export interface SettleRequest {
  readonly leaseId: string;
  readonly member: string;
  readonly outcome: BreakerOutcome;
  readonly probe: boolean;
  readonly actual: CostTotals;
  /** What the admission held (Admission's `held`); undefined: not known, every pool is given back. */
  readonly held?: string;
}

/** settleAttempt's 19 keys; also the template of the keys the fused completion makes in Lua (src/worker/fused-completion.ts). */
export function settleKeys(keys: Keys, who: Pick<AttemptIdentity, 'runId' | 'service' | 'suite' | 'day'>): string[] {
  const { svc, budgets } = scopeKeys(keys, who);
  return [
    keys.guard.permits,
    svc.permits,
    svc.probes,
    svc.breaker,
    svc.failures,
    svc.policy,
    svc.stats,
    svc.spend,
    ...budgets,
    keys.guard.policy,
    keys.run(who.runId),
    keys.runSteps(who.runId),
    keys.globalEvents,
    keys.runEvents(who.runId),
  ];
}

/** settleAttempt's arguments. */
export function settleArgs(who: AttemptIdentity, settle: SettleRequest): (string | number)[] {
  const a = settle.actual;
  return [
    settle.leaseId,
    settle.member,
    settle.outcome,
    settle.probe ? '1' : '0',
    toMicroUsd(a.usd),
    a.usd.toFixed(9),
    a.tokens.input,
    a.tokens.output,
    a.calls,
    who.runId,
    who.stepId,
    who.attempt,
    who.workerId,
    GLOBAL_EVENTS_CAP,
    who.service ?? '',
    who.suite ? '1' : '0',
    settle.held ?? '*',
  ];
}

/** settleAttempt's raw answer read: the breaker's state after it, and the events it wrote. */
export function settleAnswer(raw: unknown): { breaker: string; events: ScenarioEvent[] } {
  const [breaker, events] = raw as [string, string[]];
  return { breaker, events: parseGuardEvents(events) };
}

/** Releases the attempt's holds, commits its actual usage and feeds the breaker. */
export async function settleAttempt(redis: RedisConnection, keys: Keys, who: AttemptIdentity, settle: SettleRequest, functions?: GuardFunctions): Promise<{ breaker: string; events: ScenarioEvent[] }> {
  const call: ScriptInvocation = { keys: settleKeys(keys, who), args: settleArgs(who, settle) };
  return settleAnswer(await (functions ? functions.settle(call) : runScript(redis, 'settleAttempt', call.keys, call.args)));
}
