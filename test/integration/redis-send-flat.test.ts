import { describe, expect, it } from 'vitest';
import { Command } from 'ioredis';
import { encodeAscii, evalLua, luaSha, sendFlat } from '../../src/redis/scripts.ts';
import { useTestRedis } from '../support/context.ts';

const t = useTestRedis('send-flat');

describe('sendFlat: a command made without ioredis flattening its arguments', () => {
  it('sends strings, numbers and Buffers as ioredis would, and answers as UTF-8', async () => {
    const key = `${t.prefix}:h`;
    expect(await sendFlat(t.redis, 'hset', [key, 'n', 42, 'b', Buffer.from('bytes é'), 's', 'text'])).toBe(3);
    expect(await t.redis.hgetall(key)).toEqual({ n: '42', b: 'bytes é', s: 'text' });
    expect(await sendFlat(t.redis, 'hget', [key, 'b'])).toBe('bytes é');
  });

  it('encodes as ioredis does, byte for byte, and leaves a string outside ASCII to ioredis', () => {
    const ioredis = (name: string, args: (string | Buffer)[]) => {
      const command = new Command(name, args);
      return Buffer.from(command.toWritable({}) as string | Buffer);
    };
    const binary = Buffer.from([0x82, 0xa4, 0xff, 0x00, 0x0d, 0x0a, 0x24, 0x7f, 0x80]);
    const cases: (string | Buffer)[][] = [
      ['run-1', '', '1732665600000', 'a|b\x1fc\x1e'],
      ['job-7', binary, Buffer.alloc(0), 'x', binary],
      [],
    ];
    for (const args of cases) expect(encodeAscii('fcall', args)?.equals(ioredis('fcall', args))).toBe(true);
    expect(encodeAscii('fcall', ['é'])).toBeUndefined();
    expect(encodeAscii('fcall', ['ok', '\u{1F600}'])).toBeUndefined();
    expect(encodeAscii('fcall', ['\ud800'])).toBeUndefined();
    expect(encodeAscii('fcall', ['\u0080'])).toBeUndefined();
  });

  it('keeps every byte of a Buffer argument, beside strings outside ASCII too', async () => {
    const key = `${t.prefix}:bytes`;
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await sendFlat(t.redis, 'set', [key, bytes]);
    expect((await t.redis.getBuffer(key))?.equals(bytes)).toBe(true);
    await sendFlat(t.redis, 'hset', [`${key}:h`, 'b', bytes, 'u', 'naïve ✓']);
    expect((await t.redis.hgetBuffer(`${key}:h`, 'b'))?.equals(bytes)).toBe(true);
    expect(await t.redis.hget(`${key}:h`, 'u')).toBe('naïve ✓');
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
