import { describe, expect, it } from 'vitest';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/context.ts';

const t = useTestRedis('cleanup');

describe('cleanupPrefix', () => {
  it('deletes only the keys of its own prefix', async () => {
    const mine = uniquePrefix('mine');
    const foreign = uniquePrefix('foreign');
    const survivors = [`${foreign}:run:1`, `${mine}x:k`, `${mine}-other:k`, `x${mine}:k`, `${t.prefix}:guard`];
    const doomed = [mine, `${mine}:run:1`, `${mine}:a:b:c`, `{${mine}}:bull:q:id`, `${mine}.lock`];
    for (const key of [...survivors, ...doomed]) await t.redis.set(key, '1');

    expect(await cleanupPrefix(t.url, mine)).toBe(doomed.length);

    for (const key of survivors) expect(await t.redis.exists(key), key).toBe(1);
    for (const key of doomed) expect(await t.redis.exists(key), key).toBe(0);
    await t.redis.unlink(...survivors);
  });

  it('deletes many keys across SCAN pages and UNLINK batches', async () => {
    const pipeline = t.redis.pipeline();
    for (let i = 0; i < 1_234; i++) pipeline.set(`${t.prefix}:bulk:${i}`, '1');
    await pipeline.exec();
    expect(await cleanupPrefix(t.url, t.prefix)).toBe(1_234);
    const [, left] = await t.redis.scan('0', 'MATCH', `${t.prefix}:*`, 'COUNT', 10_000);
    expect(left).toEqual([]);
  });

  it('cleans several prefixes in one pass', async () => {
    const a = uniquePrefix('a');
    const b = uniquePrefix('b');
    await t.redis.mset(`${a}:k`, '1', `${b}:k`, '1', `${t.prefix}:keep`, '1');
    expect(await cleanupPrefix(t.url, [a, b])).toBe(2);
    expect(await t.redis.exists(`${t.prefix}:keep`)).toBe(1);
  });

  it('refuses a prefix too short to be owned', async () => {
    await expect(cleanupPrefix(t.url, 'sq')).rejects.toThrow(/shorter than 3/);
  });
});
