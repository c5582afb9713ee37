import { createHash } from 'node:crypto';
import { Command } from 'ioredis';
import type { RedisConnection } from './connection.ts';
import { luaScripts, type LuaScriptName } from './lua-scripts.generated.ts';

/** The SHA1 Redis names a script by. */
export function luaSha(lua: string): string {
  return createHash('sha1').update(lua).digest('hex');
}

const shas = new Map<LuaScriptName, string>((Object.keys(luaScripts) as LuaScriptName[]).map((name) => [name, luaSha(luaScripts[name].lua)]));

const NO_ARGS: never[] = [];

/**
 * Sends command `name` with `args` as they are, answers decoded as UTF-8. ioredis's Command
 * flattens the arguments it is given (`Array.prototype.flat`: ~4 µs for 30 arguments on
 * Node 20, more than the rest of making the command); ours are flat, so they are set after.
 */
export function sendFlat(redis: RedisConnection, name: string, args: (string | number | Buffer)[]): Promise<unknown> {
  const command = new Command(name, NO_ARGS, { replyEncoding: 'utf8' });
  command.args = args;
  // What the constructor does after flattening: numbers to strings, Buffers noted.
  command.stringifyArguments();
  void redis.sendCommand(command);
  return command.promise;
}

/** Runs a script by SHA (content-addressed, so a deploy never runs a stale one), loading it on NOSCRIPT. */
export async function evalLua(redis: RedisConnection, script: { lua: string; sha: string }, numberOfKeys: number, args: (string | number | Buffer)[]): Promise<unknown> {
  try {
    return await sendFlat(redis, 'evalsha', [script.sha, numberOfKeys, ...args]);
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('NOSCRIPT')) return sendFlat(redis, 'eval', [script.lua, numberOfKeys, ...args]);
    throw e;
  }
}

/** Runs a generated Lua script. Checks the key count against the file name. */
export async function runScript(redis: RedisConnection, name: LuaScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
  const script = luaScripts[name];
  if (keys.length !== script.numberOfKeys) {
    throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  return evalLua(redis, { lua: script.lua, sha: shas.get(name) as string }, keys.length, [...keys, ...args]);
}

/**
 * A script's text as a function of its own KEYS and ARGV (the parameters shadow the globals),
 * so scripts written alone run as parts of one (src/redis/chain.ts, src/worker/fused-completion.ts).
 */
export function luaFunction(lua: string): string {
  return `function(KEYS, ARGV)\n${lua}\nend`;
}
