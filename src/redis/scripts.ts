import { createHash } from 'node:crypto';
import type { RedisConnection } from './connection.ts';
import { luaScripts, type LuaScriptName } from './lua-scripts.generated.ts';

const shas = new Map<LuaScriptName, string>(
  (Object.keys(luaScripts) as LuaScriptName[]).map((name) => [name, createHash('sha1').update(luaScripts[name].lua).digest('hex')]),
);

/**
 * Runs a generated Lua script by SHA (content-addressed, so a deploy never runs a stale
 * script), loading it once on NOSCRIPT. Checks the key count against the file name.
 */
export async function runScript(redis: RedisConnection, name: LuaScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
  const script = luaScripts[name];
  if (keys.length !== script.numberOfKeys) {
    throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  const sha = shas.get(name) as string;
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('NOSCRIPT')) {
      return redis.eval(script.lua, keys.length, ...keys, ...args);
    }
    throw e;
  }
}
