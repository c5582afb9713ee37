import { describe, expect, it } from 'vitest';
import { parseTestScenario } from '../support/engine.ts';
import { useTestRedis } from '../support/context.ts';
import { storeQueuedRun } from '../support/stored-run.ts';

const t = useTestRedis('claim-kill-switch');
const def = parseTestScenario('name: claimed\nsteps:\n  - { id: a, uses: noop }\n  - { id: b, uses: noop }\n');

async function queuedRun(runId: string) {
  const { keys, store, now } = await storeQueuedRun(t.redis, t.prefix, def, runId);
  const halt = (field: string) => t.redis.hset(keys.guard.halt, field, JSON.stringify({ reason: 'maintenance', at: now, scope: field }));
  return { keys, store, halt };
}

describe('startAttempt with the kill switch left to the claim', () => {
  it('refuses while the scenario is halted, changes nothing, and names the halt', async () => {
    const { keys, store, halt } = await queuedRun('r1');
    await halt('scenario:claimed');
    const claim = await store.startAttempt('r1', 'a', 1, { haltScenario: 'claimed' });
    expect(claim.code).toBe(4);
    expect(JSON.parse(claim.extra)).toMatchObject({ reason: 'maintenance' });
    expect(claim.emitted).toEqual([]);
    expect(await t.redis.hget(keys.runSteps('r1'), 'st|a')).toBe('queued');
  });

  it('refuses under a global halt, not under another scenario’s', async () => {
    const { halt, store } = await queuedRun('r2');
    await halt('scenario:other');
    expect((await store.startAttempt('r2', 'a', 1, { haltScenario: 'claimed' })).code).toBe(1);
    await halt('*');
    expect((await store.startAttempt('r2', 'b', 1, { haltScenario: 'claimed' })).code).toBe(4);
  });

  it('starts as before when the guard admitted the attempt itself (no haltScenario)', async () => {
    const { halt, store } = await queuedRun('r3');
    await halt('*');
    const claim = await store.startAttempt('r3', 'a', 1);
    expect(claim.code).toBe(1);
    expect(claim.emitted.map((e) => e.type)).toContain('step.started');
  });
});
