/**
 * Two of our scripts as one round trip: the second runs only when the first answers code 1,
 * in the same atomic script. Each keeps its own KEYS and ARGV (wrapped as a function of them),
 * so neither needs to know about the other. Used where one decision always follows another
 * on the hot path: an admitted attempt is claimed at once (src/guardrails/admission.ts).
 */
import type { RedisConnection } from './connection.ts';
import { luaScripts, type LuaScriptName } from './lua-scripts.generated.ts';
import { evalLua, luaFunction, luaSha } from './scripts.ts';
import type { ScriptInvocation } from '../engine/store.ts';

const chained = new Map<string, { lua: string; sha: string }>();

/** KEYS: the first's (nk), then the second's. ARGV: the first's (na), the second's, then nk, na. */
function chainLua(first: LuaScriptName, second: LuaScriptName): { lua: string; sha: string } {
  const name = `${first}>${second}`;
  let entry = chained.get(name);
  if (!entry) {
    const lua = [
      'local n = #ARGV',
      'local nk, na = tonumber(ARGV[n - 1]), tonumber(ARGV[n])',
      // Each part's KEYS and ARGV made by one constructor: a table that grows is reallocated.
      `local first = (${luaFunction(luaScripts[first].lua)})({unpack(KEYS, 1, nk)}, {unpack(ARGV, 1, na)})`,
      'if first[1] ~= 1 then return {first, false} end',
      `return {first, (${luaFunction(luaScripts[second].lua)})({unpack(KEYS, nk + 1, #KEYS)}, {unpack(ARGV, na + 1, n - 2)})}`,
    ].join('\n');
    entry = { lua, sha: luaSha(lua) };
    chained.set(name, entry);
  }
  return entry;
}

/** Runs `first`, and `second` when the first answered code 1; answers [first's, second's or null]. */
export async function runChained(redis: RedisConnection, first: LuaScriptName, firstCall: ScriptInvocation, second: LuaScriptName, secondCall: ScriptInvocation): Promise<[unknown, unknown]> {
  if (firstCall.keys.length !== luaScripts[first].numberOfKeys || secondCall.keys.length !== luaScripts[second].numberOfKeys) {
    throw new Error(`chained scripts ${first} and ${second} take ${luaScripts[first].numberOfKeys} and ${luaScripts[second].numberOfKeys} keys`);
  }
  const keys = [...firstCall.keys, ...secondCall.keys];
  const args = [...firstCall.args, ...secondCall.args, firstCall.keys.length, firstCall.args.length];
  return (await evalLua(redis, chainLua(first, second), keys.length, [...keys, ...args])) as [unknown, unknown];
}
