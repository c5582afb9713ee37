import { randomBytes } from 'node:crypto';
import type { RedisConnection } from '../redis/connection.ts';
import { runScript } from '../redis/scripts.ts';

/** A held lock: extend it while working, release it when done. */
export interface HeldLock {
  readonly token: string;
  /** False when the lock lapsed and someone else may hold it now. */
  extend(): Promise<boolean>;
  release(): Promise<void>;
}

/**
 * Takes a Redis lock with an expiry (SET NX PX): one holder cluster-wide, and a holder that
 * dies frees it after `ttlMs`. Resolves undefined when another owner holds it.
 */
export async function tryLock(redis: RedisConnection, key: string, ttlMs: number, owner = ''): Promise<HeldLock | undefined> {
  const token = `${owner}:${randomBytes(8).toString('hex')}`;
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return undefined;
  return {
    token,
    async extend() {
      return (await runScript(redis, 'extendLock', [key], [token, ttlMs])) === 1;
    },
    async release() {
      await runScript(redis, 'releaseLock', [key], [token]);
    },
  };
}

/** Who holds the lock now (the token's owner part), if anyone. */
export async function lockOwner(redis: RedisConnection, key: string): Promise<string | undefined> {
  const token = await redis.get(key);
  return token ? token.slice(0, token.lastIndexOf(':')) : undefined;
}
