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
 * without FUNCTION, a proxy that does not pass them on) the same Lua runs as a script.
 * Libraries persist (RDB, AOF, replicas). A worker records each library it uses in the
 * prefix's functions hash (name -> last used) before loading it and with every heartbeat;
 * the reaper deletes the libraries nobody used lately (src/recovery/libraries.ts).
 */
import { ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConnection } from './connection.ts';
import { evalLua, luaSha, sendFlat } from './scripts.ts';

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

/** Sets the caller's clock argument to now (LuaLibraries.run). */
function restamp(args: (string | number | Buffer)[], nowAt: number | undefined): void {
  if (nowAt !== undefined) args[nowAt] = Date.now();
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const notFound = (e: unknown) => messageOf(e).includes('Function not found');
/** Redis (or what stands for it) answered with an error: not a lost connection, which is thrown as any call's. */
const answered = (e: unknown) => e instanceof ReplyError;

/**
 * Calls libraries on one connection, loading each on first use; scripts once Functions are
 * refused. Whether they are is asked once, before the first call, with an FCALL of a function
 * that does not exist: Redis answers "Function not found"; any other answer (an unknown
 * command, NOPERM, a proxy's own words) means no Functions here. A call's own errors are
 * then the function's, and are thrown as a script's would be.
 */
export class LuaLibraries {
  /** Why Functions are not used on this connection; undefined while they are. */
  private refused: string | undefined;
  private probed: Promise<void> | undefined;
  /** The probe answered (no await per call after that). */
  private ready = false;
  /** Libraries called on this connection (the worker lists them in its heartbeat). */
  private readonly used = new Set<string>();
  /** Loads under way: the calls that find a library missing together wait on one load. */
  private readonly loading = new Map<string, Promise<boolean>>();

  /**
   * @param usageKey the hash where a library is recorded as used before it is loaded
   *   (Keys.functions), so the reaper never takes a library for unused while it loads
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly usageKey: string,
    private readonly log: Logger,
  ) {
    if (process.env.SQ_REDIS_FUNCTIONS === '0') this.refused = 'SQ_REDIS_FUNCTIONS=0';
    // Asked now, at the worker's start, rather than in front of its first step.
    else this.probed = this.probe().catch(() => undefined);
  }

  /** Why Functions are not used on this connection (once the probe answered); undefined while they are. */
  get refusedWhy(): string | undefined {
    return this.refused;
  }

  /** The libraries this connection has called. */
  get names(): string[] {
    return [...this.used];
  }

  /**
   * Runs `lib` with no keys and `args`. `nowAt`: the index of the argument that is the
   * caller's clock (ms), set again before each send after a wait (the probe, a load): the
   * engine stamps events with it, and a call held back by a load must not write an older
   * time after a newer one.
   */
  run(lib: LuaLibrary, args: (string | number | Buffer)[], nowAt?: number): Promise<unknown> {
    return this.runPrefixed(lib, ['', 0, ...args], nowAt === undefined ? undefined : nowAt + 2);
  }

  /**
   * `run` for a hot path: `argv` holds two free slots, then the arguments (`nowAt` counts from
   * argv[0]). The slots take the function's name and key count, and the array goes to Redis as
   * it is: ioredis's `fcall(...args)` would copy it twice more, per step.
   */
  runPrefixed(lib: LuaLibrary, argv: (string | number | Buffer)[], nowAt?: number): Promise<unknown> {
    if (!this.ready || this.refused !== undefined) return this.firstRun(lib, argv.slice(2), nowAt === undefined ? undefined : nowAt - 2);
    // Every call once the probe answered: no async frame of its own (a promise and a microtask per step).
    this.used.add(lib.name);
    argv[0] = lib.name;
    argv[1] = 0;
    return sendFlat(this.redis, 'fcall', argv).catch((e: unknown) => (notFound(e) ? this.loadAndRun(lib, argv.slice(2), nowAt === undefined ? undefined : nowAt - 2) : Promise.reject(e)));
  }

  /**
   * Loads `lib` now (a worker at start), so that no call finds it missing; a load that fails
   * here leaves it to the first call, as without this.
   */
  async preload(lib: LuaLibrary): Promise<void> {
    if (!this.ready && this.refused === undefined) {
      await (this.probed ??= this.probe());
      this.ready = true;
    }
    if (this.refused === undefined) await this.load(lib);
  }

  /** A call before the probe answered, or where Functions are refused. */
  private async firstRun(lib: LuaLibrary, args: (string | number | Buffer)[], nowAt: number | undefined): Promise<unknown> {
    if (!this.ready && this.refused === undefined) {
      await (this.probed ??= this.probe());
      this.ready = true;
      restamp(args, nowAt);
    }
    if (this.refused !== undefined) return evalLua(this.redis, lib.script, 0, args);
    return this.run(lib, args, nowAt);
  }

  /** After "Function not found": not loaded yet, or deleted (FUNCTION DELETE, the reaper, a restart without persistence). */
  private async loadAndRun(lib: LuaLibrary, args: (string | number | Buffer)[], nowAt: number | undefined): Promise<unknown> {
    if (await this.load(lib)) {
      restamp(args, nowAt);
      try {
        return await this.redis.fcall(lib.name, 0, ...args);
      } catch (e) {
        if (!notFound(e)) throw e; // deleted again meanwhile: this call runs as a script
      }
    }
    restamp(args, nowAt);
    return evalLua(this.redis, lib.script, 0, args);
  }

  private async probe(): Promise<void> {
    if (this.refused !== undefined) return;
    try {
      await this.redis.fcall('sq_probe_no_such_function', 0);
      this.refuse('a function that does not exist answered'); // never expected
    } catch (e) {
      if (notFound(e)) return;
      if (answered(e)) return this.refuse(messageOf(e));
      this.probed = undefined; // asked again by the next call
      throw e;
    }
  }

  /**
   * Loads `lib`; false when it cannot be loaded here. Nothing ran yet, so the call goes to a
   * script; so do the next ones: a load is refused for good (NOPERM, no FUNCTION command) or
   * for long (memory), and a script gives the same results.
   */
  private load(lib: LuaLibrary): Promise<boolean> {
    // A worker's first steps (one per slot) all find the library missing: one FUNCTION LOAD
    // (it compiles the whole library, a few ms of Redis), not one per slot.
    let pending = this.loading.get(lib.name);
    if (!pending) {
      pending = this.loadOnce(lib).finally(() => this.loading.delete(lib.name));
      this.loading.set(lib.name, pending);
    }
    return pending;
  }

  private async loadOnce(lib: LuaLibrary): Promise<boolean> {
    try {
      await this.redis.hset(this.usageKey, lib.name, Date.now());
      await this.redis.call('FUNCTION', 'LOAD', lib.library);
      return true;
    } catch (e) {
      // Another worker of the same version loaded it first.
      if (messageOf(e).includes('already exists')) return true;
      if (!answered(e)) throw e;
      this.refuse(messageOf(e));
      return false;
    }
  }

  private refuse(why: string): void {
    this.refused = why;
    // A warning: a composition run as a script makes its functions anew on every call, ~20 %
    // more Redis work per step (docs/performance.md), which an operator may want to fix.
    this.log.warn({ why }, 'Redis Functions unavailable: the worker\'s compositions run as scripts');
  }
}

/** The libraries owned by `namespace`; none where Functions are refused. */
export async function listLibraries(redis: RedisConnection, namespace: string): Promise<string[]> {
  let listed: unknown;
  try {
    listed = await redis.call('FUNCTION', 'LIST', 'LIBRARYNAME', `${libraryNamePrefix(namespace)}*`);
  } catch {
    return []; // no Functions here: nothing was loaded
  }
  const names: string[] = [];
  for (const entry of listed as unknown[][]) {
    const at = entry.indexOf('library_name');
    const name = at >= 0 ? String(entry[at + 1]) : '';
    // LIBRARYNAME is a (case-insensitive) pattern; the name must really start with the prefix.
    if (name.startsWith(libraryNamePrefix(namespace))) names.push(name);
  }
  return names;
}

/** Deletes the libraries of `namespace` that `keep` does not hold (all by default); answers how many. Safe on a shared Redis. */
export async function deleteLibraries(redis: RedisConnection, namespace: string, keep: ReadonlySet<string> = new Set()): Promise<number> {
  let deleted = 0;
  for (const name of await listLibraries(redis, namespace)) {
    if (keep.has(name)) continue;
    await redis.call('FUNCTION', 'DELETE', name).then(
      () => deleted++,
      () => undefined, // deleted meanwhile
    );
  }
  return deleted;
}
