/**
 * Per-file Redis access for tests. Call at the top level of a test file:
 *
 *   const t = useTestRedis('lifecycle');
 *   it('…', async () => { await t.redis.set(`${t.prefix}:k`, 'v'); });
 *
 * `t.url` and `t.redis` exist from the file's first beforeAll on. `t.prefix` is fresh for
 * each test by default (scope 'test'); with `{ scope: 'file' }` one prefix serves the whole
 * file, e.g. when workers started in beforeAll must see the same keys as every test.
 * Every prefix handed out is deleted in afterAll (which runs after the file's own afterAll
 * hooks, so workers stopped there cannot write keys back).
 */
import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';
import type { Redis } from 'ioredis';
import { cleanupPrefix, redisClient, uniquePrefix } from './redis.ts';
import type {} from './global-setup.ts';

/** What a test file gets from {@link useTestRedis}. */
export interface TestRedis {
  /** URL of the run's Redis (shared with other files: only touch your prefix). */
  readonly url: string;
  /** Key prefix owned by the current test (or file, with scope 'file'). */
  readonly prefix: string;
  /** A client on `url` (`maxRetriesPerRequest: null`), closed in afterAll. */
  readonly redis: Redis;
}

/** Options for {@link useTestRedis}. */
export interface UseTestRedisOptions {
  /** 'test': a new prefix per test; 'file': one prefix for the whole file. @default 'test' */
  readonly scope?: 'test' | 'file';
}

function resolveUrl(): string {
  const url = inject('redisUrl') ?? process.env.SQ_TEST_REDIS_URL;
  if (url === undefined || url === '') {
    throw new Error('no Redis URL: run through vitest.config.ts (globalSetup test/support/global-setup.ts) or set SQ_TEST_REDIS_URL');
  }
  return url;
}

/** Registers hooks that give this test file a Redis URL, client and owned key prefix. */
export function useTestRedis(label: string, options: UseTestRedisOptions = {}): TestRedis {
  const scope = options.scope ?? 'test';
  const issued: string[] = [];
  let url: string | undefined;
  let client: Redis | undefined;
  let prefix: string | undefined;

  const notYet = (field: string): Error =>
    new Error(`useTestRedis('${label}'): t.${field} is not available yet; read it inside a hook or test, not at module top level`);

  beforeAll(() => {
    url = resolveUrl();
    client = redisClient(url);
    if (scope === 'file') {
      prefix = uniquePrefix(label);
      issued.push(prefix);
    }
  });
  if (scope === 'test') {
    beforeEach(() => {
      prefix = uniquePrefix(label);
      issued.push(prefix);
    });
    afterEach(() => {
      prefix = undefined;
    });
  }
  afterAll(async () => {
    try {
      if (url !== undefined && issued.length > 0) await cleanupPrefix(url, issued);
    } finally {
      await client?.quit().catch(() => client?.disconnect());
    }
  });

  return {
    get url() {
      if (url === undefined) throw notYet('url');
      return url;
    },
    get redis() {
      if (client === undefined) throw notYet('redis');
      return client;
    },
    get prefix() {
      if (prefix !== undefined) return prefix;
      if (scope === 'test' && url !== undefined) {
        throw new Error(`useTestRedis('${label}'): t.prefix is per test (scope 'test') and read outside a test; use useTestRedis('${label}', { scope: 'file' }) to share one prefix with beforeAll/afterAll`);
      }
      throw notYet('prefix');
    },
  };
}
