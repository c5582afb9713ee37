import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deleteLibraries, listLibraries, LuaLibraries, luaLibrary } from '../../src/redis/functions.ts';
import { startRedisServer, type OwnedRedis } from '../support/redis-server.ts';

// Each case owns its redis-server: some rename FUNCTION or FCALL away, as a Redis or a proxy
// that refuses them would.
const servers: OwnedRedis[] = [];
const clients: Redis[] = [];
const silent = pino({ level: 'silent' });
const USAGE = 'sqt-functions:functions';

async function server(args: string[] = []) {
  const owned = await startRedisServer({ args });
  servers.push(owned);
  const redis = new Redis(owned.url, { maxRetriesPerRequest: 3 });
  clients.push(redis);
  return redis;
}

/** A library whose function answers its first argument joined with the calls it has seen. */
const echo = luaLibrary('sqt-functions', "local calls = 0\nlocal function main(_, ARGV)\n  calls = calls + 1\n  return ARGV[1] .. '|' .. calls\nend");

afterEach(() => {
  delete process.env.SQ_REDIS_FUNCTIONS;
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
});

describe('Lua libraries (src/redis/functions.ts)', () => {
  it('loads a library on first use, records it as used first, and keeps its functions between calls', async () => {
    const redis = await server();
    const libraries = new LuaLibraries(redis, USAGE, silent);
    expect(await libraries.run(echo, ['a'])).toBe('a|1');
    // Made once at load: the library's local state lives on between calls (a script's would not).
    expect(await libraries.run(echo, ['b'])).toBe('b|2');
    expect(await listLibraries(redis, 'sqt-functions')).toEqual([echo.name]);
    expect(libraries.names).toEqual([echo.name]);
    expect(Number(await redis.hget(USAGE, echo.name))).toBeGreaterThan(0);
  });

  it('loads a library once for calls that find it missing together', async () => {
    const redis = await server();
    const libraries = new LuaLibraries(redis, USAGE, silent);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => libraries.run(echo, [String(i)])));
    expect(answers.map((a) => String(a).split('|')[0]).sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(new Set(answers.map((a) => String(a).split('|')[1])).size).toBe(8);
    const stats = String(await redis.info('commandstats'));
    expect(/cmdstat_function\|load:calls=(\d+)/.exec(stats)?.[1]).toBe('1');
  });

  it('loads it again after a FUNCTION DELETE; deleteLibraries keeps what it is told to keep', async () => {
    const redis = await server();
    const libraries = new LuaLibraries(redis, USAGE, silent);
    expect(await libraries.run(echo, ['a'])).toBe('a|1');
    expect(await deleteLibraries(redis, 'sqt-functions', new Set([echo.name]))).toBe(0);
    expect(await deleteLibraries(redis, 'sqt-functions')).toBe(1);
    expect(await libraries.run(echo, ['b'])).toBe('b|1');
    expect(await deleteLibraries(redis, 'sqt-other')).toBe(0);
  });

  it.each([
    ['FCALL renamed away (the probe is refused)', ['--rename-command', 'FCALL', '""']],
    ['FUNCTION renamed away (the load is refused)', ['--rename-command', 'FUNCTION', '""']],
  ])('runs the same Lua as a script where Functions are refused: %s', async (_, args) => {
    const redis = await server(args);
    const libraries = new LuaLibraries(redis, USAGE, silent);
    // As a script the library's top level runs on every call: its state starts over each time.
    expect(await libraries.run(echo, ['a'])).toBe('a|1');
    expect(await libraries.run(echo, ['b'])).toBe('b|1');
    expect(libraries.names.length).toBeLessThanOrEqual(1);
  });

  it('SQ_REDIS_FUNCTIONS=0 runs scripts without asking', async () => {
    process.env.SQ_REDIS_FUNCTIONS = '0';
    const redis = await server();
    const libraries = new LuaLibraries(redis, USAGE, silent);
    expect(await libraries.run(echo, ['a'])).toBe('a|1');
    expect(await listLibraries(redis, 'sqt-functions')).toEqual([]);
  });

  it('sets the caller\'s clock argument again when the call waited for a load', async () => {
    const redis = await server();
    const libraries = new LuaLibraries(redis, USAGE, silent);
    const clock = luaLibrary('sqt-functions', 'local function main(_, ARGV)\n  return ARGV[2]\nend');
    const before = Date.now();
    // The call found no library, loaded it and sent again: with the time of that send.
    expect(Number(await libraries.run(clock, ['x', 0], 1))).toBeGreaterThanOrEqual(before);
    // Loaded: the argument goes as given.
    expect(await libraries.run(clock, ['x', 7], 1)).toBe('7');
  });

  it('throws what the function throws, as a script would', async () => {
    const redis = await server();
    const libraries = new LuaLibraries(redis, USAGE, silent);
    const failing = luaLibrary('sqt-functions', "local function main(_, ARGV)\n  return redis.call('INCR', 'sqt-functions:not-a-number-' .. ARGV[1])\nend");
    await redis.set('sqt-functions:not-a-number-x', 'text');
    await expect(libraries.run(failing, ['x'])).rejects.toThrow(/not an integer/);
  });
});
