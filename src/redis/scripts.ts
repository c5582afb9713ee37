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
 * The RESP encoding of command `name` with `args` (strings and Buffers), as ioredis's
 * `Command#toWritable` makes it, or undefined when a string (or the name) holds a character
 * outside ASCII.
 * Made as one Latin-1 string (a Buffer's bytes as its characters, an ASCII string as itself)
 * copied into one Buffer: once any argument is a Buffer (BullMQ packs a job's options into
 * one), ioredis measures each argument twice and copies it into the Buffer on its own.
 */
export function encodeAscii(name: string, args: readonly unknown[]): Buffer | undefined {
  if (Buffer.byteLength(name) !== name.length) return undefined;
  let out = '*' + (args.length + 1) + '\r\n$' + name.length + '\r\n' + name + '\r\n';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg === 'string') {
      if (Buffer.byteLength(arg) !== arg.length) return undefined;
      out += '$' + arg.length + '\r\n' + arg + '\r\n';
    } else if (Buffer.isBuffer(arg)) {
      out += '$' + arg.length + '\r\n' + arg.toString('latin1') + '\r\n';
    } else {
      return undefined;
    }
  }
  return Buffer.from(out, 'latin1');
}

const ioredisToWritable = Command.prototype.toWritable;
/** Command#toWritable by encodeAscii where it can (every command of the engine's hot path). */
function toWritableAscii(this: Command, socket: object): string | Buffer {
  return encodeAscii(this.name, this.args) ?? ioredisToWritable.call(this, socket);
}

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
  command.toWritable = toWritableAscii;
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
