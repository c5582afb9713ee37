import { describe, expect, it } from 'vitest';
import { evalLua, luaSha, sendFlat } from '../../src/redis/scripts.ts';
import { useTestRedis } from '../support/context.ts';

const t = useTestRedis('send-flat');

describe('sendFlat: a command made without ioredis flattening its arguments', () => {
  it('sends strings, numbers and Buffers as ioredis would, and answers as UTF-8', async () => {
    const key = `${t.prefix}:h`;
    expect(await sendFlat(t.redis, 'hset', [key, 'n', 42, 'b', Buffer.from('bytes é'), 's', 'text'])).toBe(3);
    expect(await t.redis.hgetall(key)).toEqual({ n: '42', b: 'bytes é', s: 'text' });
    expect(await sendFlat(t.redis, 'hget', [key, 'b'])).toBe('bytes é');
  });

  it('runs a script by SHA, and loads it on NOSCRIPT (evalLua)', async () => {
    const lua = `return {KEYS[1], ARGV[1], ARGV[2], '${t.prefix}'}`;
    const script = { lua, sha: luaSha(lua) };
    const key = `${t.prefix}:k`;
    expect(await evalLua(t.redis, script, 1, [key, 7, Buffer.from('x')])).toEqual([key, '7', 'x', t.prefix]);
    expect(await evalLua(t.redis, script, 1, [key, 8, 'y'])).toEqual([key, '8', 'y', t.prefix]);
  });

  it('rejects with Redis\'s error', async () => {
    await expect(sendFlat(t.redis, 'incr', [`${t.prefix}:h`])).resolves.toBe(1);
    await t.redis.set(`${t.prefix}:s`, 'text');
    await expect(sendFlat(t.redis, 'incr', [`${t.prefix}:s`])).rejects.toThrow(/not an integer/);
  });
});
