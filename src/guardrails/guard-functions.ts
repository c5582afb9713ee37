/**
 * The guard's two scripts of every guarded attempt, `admitAttempt` (alone, or with the claim
 * that follows it, `startAttempt`) and `settleAttempt`, as one Redis Function library.
 *
 * As scripts (`EVALSHA`) each call made the ~35 local functions of their includes anew and
 * left them to the Lua collector of the scripts' state, which holds every BullMQ script too. In
 * a library the includes' functions are made once, at load (src/redis/functions.ts says how a
 * library is named, loaded, kept and cleaned up; where Functions are refused the same Lua runs
 * as a script). The three bodies are the generated scripts' own, unchanged; `GUARD_EVENTS`
 * (includes/guard-common.lua) outlives a call in a library, so each call makes it anew.
 *
 * Only on a standalone Redis: a library is called with no keys (they travel as arguments), as
 * the worker's fused completion is. Where Functions are refused, the scripts run as scripts.
 */
import type { Logger } from 'pino';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { luaIncludes, luaScripts } from '../redis/lua-scripts.generated.ts';
import { LuaLibraries, luaLibrary, type LuaLibrary } from '../redis/functions.ts';
import { luaFunction, runScript } from '../redis/scripts.ts';
import { runChained } from '../redis/chain.ts';
import type { ScriptInvocation } from '../engine/store.ts';

export interface GuardFunctions {
  /** admitAttempt's raw answer; with `claim`, [admitAttempt's, startAttempt's or false] as runChained answers. */
  admit(call: ScriptInvocation, claim?: ScriptInvocation): Promise<unknown>;
  /** settleAttempt's raw answer. */
  settle(call: ScriptInvocation): Promise<unknown>;
  /** The libraries called (the worker's heartbeat records them as used). */
  libraries(): string[];
  /** Loads the library now; resolves either way (a failed load is left to the first call). */
  preload(): Promise<void>;
}

function guardLua(): string {
  // Both scripts take the same includes (test/unit/lua-generated.test.ts), each once here.
  return [
    luaScripts.admitAttempt.includesLua,
    luaIncludes['run-core'],
    `local admitAttempt = ${luaFunction(luaScripts.admitAttempt.body)}`,
    `local settleAttempt = ${luaFunction(luaScripts.settleAttempt.body)}`,
    `local startAttempt = ${luaFunction(luaScripts.startAttempt.body)}`,
    // ARGV: the keys, the arguments, [the claim's keys and arguments,] then the counts of the
    // keys, of the arguments and of the claim's keys, and what to run.
    'local function main(_, A)',
    '  local n = #A',
    '  local nk, na, nck, op = tonumber(A[n - 3]), tonumber(A[n - 2]), tonumber(A[n - 1]), A[n]',
    '  GUARD_EVENTS, GUARD_NOW = {}, nil',
    '  local keys, args = {unpack(A, 1, nk)}, {unpack(A, nk + 1, nk + na)}',
    "  if op == 'settle' then return settleAttempt(keys, args) end",
    '  local first = admitAttempt(keys, args)',
    "  if op ~= 'claim' then return first end",
    '  if first[1] ~= 1 then return {first, false} end',
    '  local at = nk + na',
    '  return {first, startAttempt({unpack(A, at + 1, at + nck)}, {unpack(A, at + nck + 1, n - 4)})}',
    'end',
  ].join('\n');
}

/** The guard's library on `redis`; undefined on Redis Cluster, where the scripts run as they are. */
export function guardFunctions(redis: RedisConnection, keys: Keys, log: Logger): GuardFunctions | undefined {
  if ('isCluster' in redis && redis.isCluster) return undefined;
  const libraries = new LuaLibraries(redis, keys.functions, log);
  const lib: LuaLibrary = luaLibrary(keys.prefix, guardLua());
  // Where Functions are refused, the scripts as they are: the library as one script would make
  // every function of all three on each call.
  const scripts = () => libraries.refusedWhy !== undefined;
  return {
    admit(call, claim) {
      if (!claim) {
        if (scripts()) return runScript(redis, 'admitAttempt', call.keys, call.args);
        return libraries.run(lib, [...call.keys, ...call.args, call.keys.length, call.args.length, 0, 'admit']);
      }
      if (scripts()) return runChained(redis, 'admitAttempt', call, 'startAttempt', claim);
      // The claim's ARGV[2] is its clock, set again if the call waits for a load (LuaLibraries.run).
      const nowAt = call.keys.length + call.args.length + claim.keys.length + 1;
      return libraries.run(lib, [...call.keys, ...call.args, ...claim.keys, ...claim.args, call.keys.length, call.args.length, claim.keys.length, 'claim'], nowAt);
    },
    settle(call) {
      if (scripts()) return runScript(redis, 'settleAttempt', call.keys, call.args);
      return libraries.run(lib, [...call.keys, ...call.args, call.keys.length, call.args.length, 0, 'settle']);
    },
    libraries: () => libraries.names,
    preload: () => libraries.preload(lib).catch((err: unknown) => log.warn({ err }, 'guard library not loaded at start; its first call loads it')),
  };
}
