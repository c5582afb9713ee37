/**
 * Lua run as a Redis Function (`FUNCTION LOAD`, Redis 7) where it can be, else as a script.
 *
 * A script's top-level code runs on every EVALSHA: each `local function` in it is made anew,
 * with its captures, on every call. A library's top-level code runs once, when it is loaded,
 * so its functions are made once and each call only runs them. The compositions of
 * src/worker/fused-completion.ts hold the engine's run-state functions, BullMQ's script and the
 * claim: as a library that is ~7 % fewer Redis instructions per step (docs/performance.md).
 *
 * A library is named after its content (and the namespace that owns it, for cleanup), so a
 * worker of another version never calls a different one by the same name; two workers loading
 * the same library is harmless. A library deleted or lost (a Redis restart without persistence)
 * is loaded again on the next call. Where Functions are refused (an older Redis, an ACL
 * without FUNCTION) the same Lua runs as a script.
 */
import type { Logger } from 'pino';
import type { RedisConnection } from './connection.ts';
import { evalLua, luaSha } from './scripts.ts';

export interface LuaLibrary {
  /** The library's name, which is also the name of its one function. */
  readonly name: string;
  /** The text FUNCTION LOAD takes. */
  readonly library: string;
  /** The same Lua as a script, for a Redis that refuses Functions. */
  readonly script: { readonly lua: string; readonly sha: string };
}

/** The start of every library name owned by `namespace` (a key prefix): `sq_<hash>_`. */
export function libraryNamePrefix(namespace: string): string {
  return `sq_${luaSha(namespace).slice(0, 8)}_`;
}

/**
 * A library of `lua` (top-level code that defines the local function `main`) whose one function
 * is `main(keys, args)`; as a script, `main(KEYS, ARGV)`.
 */
export function luaLibrary(namespace: string, lua: string): LuaLibrary {
  const name = `${libraryNamePrefix(namespace)}${luaSha(lua).slice(0, 16)}`;
  const script = `${lua}\nreturn main(KEYS, ARGV)`;
  return {
    name,
    library: `#!lua name=${name}\n${lua}\nredis.register_function('${name}', main)`,
    script: { lua: script, sha: luaSha(script) },
  };
}

/** An error that says FCALL itself is not available here (not an error of the function). */
function functionsRefused(message: string): boolean {
  return /unknown command|NOPERM/i.test(message);
}

/** Calls libraries on one connection, loading each on first use; scripts once Functions are refused. */
export class LuaLibraries {
  /** Why Functions are not used on this connection; undefined while they are. */
  private refused: string | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly log: Logger,
  ) {
    if (process.env.SQ_REDIS_FUNCTIONS === '0') this.refused = 'SQ_REDIS_FUNCTIONS=0';
  }

  /** Whether calls go to Functions (true) or to scripts. */
  get usesFunctions(): boolean {
    return this.refused === undefined;
  }

  /** Runs `lib` with no keys and `args`. */
  async run(lib: LuaLibrary, args: (string | number | Buffer)[]): Promise<unknown> {
    if (this.refused === undefined) {
      try {
        return await this.redis.fcall(lib.name, 0, ...args);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (functionsRefused(message)) this.refuse(message);
        else if (!message.includes('Function not found')) throw e;
        else if (await this.load(lib)) return await this.redis.fcall(lib.name, 0, ...args);
      }
    }
    return evalLua(this.redis, lib.script, 0, args);
  }

  /** Loads `lib`; false when Functions are refused here (calls go to scripts from now on). */
  private async load(lib: LuaLibrary): Promise<boolean> {
    try {
      await this.redis.call('FUNCTION', 'LOAD', lib.library);
      return true;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // Another worker of the same version loaded it first.
      if (message.includes('already exists')) return true;
      if (!functionsRefused(message)) throw e;
      this.refuse(message);
      return false;
    }
  }

  private refuse(why: string): void {
    this.refused = why;
    this.log.info({ why }, 'Redis Functions refused: the worker\'s compositions run as scripts');
  }
}

/** Deletes every library owned by `namespace`; answers how many. Safe on a shared Redis. */
export async function deleteLibraries(redis: RedisConnection, namespace: string): Promise<number> {
  let listed: unknown;
  try {
    listed = await redis.call('FUNCTION', 'LIST', 'LIBRARYNAME', `${libraryNamePrefix(namespace)}*`);
  } catch {
    return 0; // no Functions here: nothing was loaded
  }
  let deleted = 0;
  for (const entry of listed as unknown[][]) {
    const at = entry.indexOf('library_name');
    const name = at >= 0 ? String(entry[at + 1]) : '';
    // LIBRARYNAME is a pattern; the name must really start with this namespace's prefix.
    if (!name.startsWith(libraryNamePrefix(namespace))) continue;
    await redis.call('FUNCTION', 'DELETE', name).then(
      () => deleted++,
      () => undefined, // deleted meanwhile
    );
  }
  return deleted;
}
