import { describe, expect, it } from 'vitest';
import { createRunCache } from '../../src/worker/run-cache.ts';
import { createKeys } from '../../src/redis/keys.ts';
import { parseTestScenario } from '../support/engine.ts';
import { useTestRedis } from '../support/context.ts';

const t = useTestRedis('run-cache');

async function storeRun(runId: string, defText: string) {
  const keys = createKeys(t.prefix);
  await t.redis.hset(keys.run(runId), { def: defText, input: '{"user":"alice"}', deadline: Date.now() + 60_000, mock: 0 });
  return keys;
}

describe('createRunCache', () => {
  const a = JSON.stringify(parseTestScenario('name: a\nsteps:\n  - { id: s1, uses: noop }\n  - { id: s2, uses: echo, needs: [s1], with: { v: "{{ input.user }}" } }\n'));
  const b = JSON.stringify(parseTestScenario('name: b\nsteps:\n  - { id: s1, uses: noop }\n'));

  it('runs of one scenario share one compilation; each keeps its own id and input', async () => {
    await storeRun('r1', a);
    const keys = await storeRun('r2', a);
    const cache = createRunCache(t.redis, keys);
    const [r1, r2] = await Promise.all([cache.get('r1'), cache.get('r2')]);
    expect(r1?.step('s2')).toBe(r2?.step('s2'));
    expect([r1?.runId, r2?.runId]).toEqual(['r1', 'r2']);
    expect(r1?.step('s2').render({ input: r1.input, steps: {}, run: { id: 'r1', attempt: 1 } })).toEqual({ v: 'alice' });
  });

  it('another scenario compiles on its own', async () => {
    await storeRun('r1', a);
    const keys = await storeRun('r3', b);
    const cache = createRunCache(t.redis, keys);
    const [r1, r3] = await Promise.all([cache.get('r1'), cache.get('r3')]);
    expect(r1?.step('s1')).not.toBe(r3?.step('s1'));
    expect(r3?.def.name).toBe('b');
  });

  it('knows a run of no more steps than its maxParallel never counts in-flight steps', async () => {
    const wide = JSON.stringify(parseTestScenario('name: w\nmaxParallel: 1\nsteps:\n  - { id: s1, uses: noop }\n  - { id: s2, uses: noop }\n'));
    await storeRun('r1', a);
    const keys = await storeRun('r4', wide);
    const cache = createRunCache(t.redis, keys);
    const [r1, r4] = await Promise.all([cache.get('r1'), cache.get('r4')]);
    expect(r1?.uncounted).toBe(await t.redis.hget(keys.run('r1'), 'deadline'));
    expect(r4?.uncounted).toBeUndefined();
  });

  it('a run that does not exist is undefined and not kept', async () => {
    const cache = createRunCache(t.redis, createKeys(t.prefix));
    expect(await cache.get('missing')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 0));
    expect(cache.size).toBe(0);
  });
});
