/**
 * The reclaimer of the workers' Redis Function libraries (src/redis/functions.ts). A worker's
 * fused completion loads one per key prefix and worker version or configuration, and Redis
 * keeps it (RDB, AOF, replicas) after the last worker of that version is gone: every deploy
 * would add one for good. A worker records a library in the prefix's functions hash before it
 * loads it and again with each heartbeat while it uses it; this deletes the prefix's libraries
 * not recorded within UNUSED_AFTER_MS (or not recorded at all), and the records that old. A
 * worker whose library is deleted anyway loads it again on its next call.
 */
import { deleteLibraries, listLibraries } from '../redis/functions.ts';
import { LIVE_WINDOW_MS } from '../worker/heartbeat.ts';
import type { Reclaimer } from './reclaim.ts';

/** Ten live windows without a heartbeat that records it: no live worker uses the library. */
export const UNUSED_AFTER_MS = LIVE_WINDOW_MS * 10;

export function libraryReclaimer(): Reclaimer {
  return {
    name: 'function-libraries',
    async reclaim({ redis, keys, now, dryRun }) {
      // Listed before the records are read: a worker records a library before it loads it,
      // so every library listed here that a worker uses has its record in what is read next.
      const libraries = await listLibraries(redis, keys.prefix);
      const used = await redis.hgetall(keys.functions);
      const fresh = (name: string) => now - Number(used[name] ?? 0) < UNUSED_AFTER_MS;
      const keep = new Set(libraries.filter(fresh));
      if (dryRun) return libraries.length - keep.size;
      const deleted = await deleteLibraries(redis, keys.prefix, keep);
      // Only stale records go: a fresh one may be of a library being loaded right now.
      const stale = Object.keys(used).filter((name) => !fresh(name));
      if (stale.length > 0) await redis.hdel(keys.functions, ...stale);
      return deleted;
    },
  };
}
