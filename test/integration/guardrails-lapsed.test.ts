/**
 * What a dead worker leaves in the guardrails' sorted sets (permits and reservations whose
 * lease lapsed, rate-log entries out of the window) is counted out by admitAttempt at once and
 * removed without costing every admission a call: permits and the rate log on every 16th
 * admission of the service, reservations on about one admission in 16 (by Redis's clock).
 * A renewal does not bring such an entry back, and a settle sent twice (its reply lost) commits
 * its usage once.
 */
import { describe, expect, it } from 'vitest';
import { createKeys } from '../../src/redis/keys.ts';
import { admitAttempt, renewLease, reservationMember, settleAttempt, type AttemptIdentity } from '../../src/guardrails/admission.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import { useTestRedis } from '../support/context.ts';

const t = useTestRedis('guardrails-lapsed');
const ESTIMATE = { usdMicro: 0, tokens: 0, calls: 1 };

describe('lapsed holds in the guardrails', () => {
  it('are never counted, and are removed: permits and the rate log every 16th admission, reservations now and then', async () => {
    const keys = createKeys(t.prefix);
    await applyServices(t.redis, keys, validateServices({ services: { svc: { maxConcurrency: 2, rateLimit: { max: 20, perMs: 60_000 } } } }));
    const who = (n: number): AttemptIdentity => ({ runId: 'run-1', stepId: `s${n}`, attempt: 1, workerId: 'w', scenario: 'lapsed', service: 'svc', day: '2026-11-26' });
    const svc = keys.guard.service('svc');
    const run = keys.guard.run('run-1');
    await t.redis.hset(run.budget, 'limit:calls', '3', 'limit:onExceed', 'fail');
    // A dead worker's holds: three lapsed permits (they would fill maxConcurrency 2), three
    // lapsed reservations of 1 call (they would exhaust the budget of 3), and 19 rate-log
    // entries from long ago (they would fill the window of 20).
    const past = Date.now() - 120_000;
    for (let i = 0; i < 3; i++) {
      await t.redis.zadd(svc.permits, past, `dead-${i}`);
      await t.redis.zadd(keys.guard.permits, past, `dead-${i}`);
      await t.redis.zadd(run.reservations, past, reservationMember(`dead-${i}`, ESTIMATE));
    }
    for (let i = 0; i < 19; i++) await t.redis.zadd(svc.rate, past - i, `old-${i}`);

    for (let n = 1; n <= 16; n++) {
      const leaseId = `lease-${n}`;
      const admission = await admitAttempt(t.redis, keys, who(n), { leaseId, leaseMs: 30_000, live: true, estimate: n <= 2 ? ESTIMATE : { usdMicro: 0, tokens: 0, calls: 0 } });
      expect(admission.kind, `admission ${n}`).toBe('admitted');
      if (n === 1) {
        // The only live reservation is this attempt's; the dead worker's were counted out.
        expect(await t.redis.zrangebyscore(run.reservations, `(${Date.now()}`, '+inf')).toEqual([reservationMember(leaseId, ESTIMATE)]);
        // Permits and rate log still hold the dead worker's entries, counted out.
        expect(await t.redis.zcard(svc.permits)).toBe(4);
        expect(await t.redis.zcard(svc.rate)).toBe(20);
      }
      await settleAttempt(t.redis, keys, who(n), { leaseId, member: reservationMember(leaseId, n <= 2 ? ESTIMATE : { usdMicro: 0, tokens: 0, calls: 0 }), outcome: 'ok', probe: false, actual: { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 } });
    }
    // The 16th admission removed the lapsed permits and the rate log's old entries.
    expect(await t.redis.zcard(svc.permits)).toBe(0);
    expect(await t.redis.zcard(keys.guard.permits)).toBe(0);
    expect(await t.redis.zcard(svc.rate)).toBe(16);
    expect(await t.redis.zcount(run.reservations, `(${Date.now()}`, '+inf')).toBe(0);
    // The lapsed reservations go with an admission whose Redis time is a multiple of 16 ms (these
    // use no service: its rate window of 20 is nearly full).
    const budgetOnly = (n: number): AttemptIdentity => ({ ...who(n), service: undefined });
    await t.redis.zadd(run.reservations, past, reservationMember('dead-again', ESTIMATE));
    for (let n = 17; (await t.redis.zcard(run.reservations)) > 0; n++) {
      expect(n, 'admissions until the lapsed reservations were removed').toBeLessThan(2_000);
      const leaseId = `lease-${n}`;
      expect((await admitAttempt(t.redis, keys, budgetOnly(n), { leaseId, leaseMs: 30_000, live: true, estimate: ESTIMATE })).kind).toBe('admitted');
      await settleAttempt(t.redis, keys, budgetOnly(n), { leaseId, member: reservationMember(leaseId, ESTIMATE), outcome: 'ok', probe: false, actual: { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 } });
      await new Promise((r) => setTimeout(r, 1));
    }
  });

  it('takes a permit of all services only while maxConcurrentCalls is set, and the settle gives back what was held', async () => {
    const keys = createKeys(t.prefix);
    const who: AttemptIdentity = { runId: 'run-2', stepId: 's', attempt: 1, workerId: 'w', scenario: 'held', service: 'svc2', day: '2026-11-26' };
    const admitAndCheck = async (leaseId: string, global: boolean) => {
      const admission = await admitAttempt(t.redis, keys, who, { leaseId, leaseMs: 30_000, live: true, estimate: ESTIMATE });
      expect(admission).toMatchObject({ kind: 'admitted', held: global ? 'gr' : 'r' });
      expect((await t.redis.zscore(keys.guard.permits, leaseId)) !== null).toBe(global);
      expect(await t.redis.zscore(keys.guard.service('svc2').permits, leaseId)).not.toBeNull();
      const held = admission.kind === 'admitted' ? admission.held : undefined;
      await settleAttempt(t.redis, keys, who, { leaseId, member: reservationMember(leaseId, ESTIMATE), outcome: 'ok', probe: false, actual: { usd: 0, tokens: { input: 0, output: 0 }, calls: 1 }, held });
      expect(await t.redis.zcard(keys.guard.permits)).toBe(0);
      expect(await t.redis.zcard(keys.guard.service('svc2').permits)).toBe(0);
      expect(await t.redis.zcard(keys.guard.run('run-2').reservations)).toBe(0);
    };
    await t.redis.hset(keys.guard.run('run-2').budget, 'limit:calls', '100');
    await applyServices(t.redis, keys, validateServices({ services: { svc2: { maxConcurrency: 5 } } }));
    await admitAndCheck('no-global', false);
    await applyServices(t.redis, keys, validateServices({ services: { svc2: { maxConcurrency: 5 } }, maxConcurrentCalls: 3 }));
    await admitAndCheck('global', true);
  });

  it('a renewal does not bring a lapsed hold back, and a settle sent twice commits its usage once', async () => {
    const keys = createKeys(t.prefix);
    const who: AttemptIdentity = { runId: 'run-3', stepId: 's', attempt: 1, workerId: 'w', scenario: 'twice', service: 'svc3', day: '2026-11-26' };
    const svc = keys.guard.service('svc3');
    const lapsedAt = Date.now() - 1_000;
    await t.redis.zadd(svc.permits, lapsedAt, 'stalled');
    await t.redis.zadd(svc.permits, Date.now() + 60_000, 'running');
    expect(await renewLease(t.redis, keys, who, { leaseId: 'stalled', member: '', leaseMs: 30_000 })).toBe(0);
    expect(Number(await t.redis.zscore(svc.permits, 'stalled'))).toBe(lapsedAt);
    expect(await renewLease(t.redis, keys, who, { leaseId: 'running', member: '', leaseMs: 30_000 })).toBe(1);

    await t.redis.hset(keys.run('run-3'), 'status', 'running');
    const settle = { leaseId: 'once', member: '', outcome: 'ok' as const, probe: false, actual: { usd: 0.5, tokens: { input: 10, output: 5 }, calls: 1 }, held: '' };
    await settleAttempt(t.redis, keys, who, settle);
    // Its reply lost, the same settle is sent again.
    await settleAttempt(t.redis, keys, who, settle);
    expect(await t.redis.hmget(keys.guard.run('run-3').budget, 'spent:calls', 'spent:tokens', 'spent:usd')).toEqual(['1', '15', '500000']);
    expect(await t.redis.hmget(keys.run('run-3'), 'cost:calls', 'cost:usd')).toEqual(['1', '0.5']);
    expect(await t.redis.hget(svc.spend, 'calls')).toBe('1');
  });
});
