import { describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { getFreePort } from '../support/net.ts';
import { containerRuntimeMissing, provideRedis } from '../support/redis.ts';

async function ping(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

describe('provideRedis', () => {
  it('uses SQ_TEST_REDIS_URL as is and never stops it', async () => {
    const url = inject('redisUrl');
    const redis = await provideRedis({ env: { SQ_TEST_REDIS_URL: url } });
    expect(redis).toMatchObject({ url, owned: false, source: 'env' });
    await redis.stop();
    expect(await ping(url)).toBe('PONG');
  });

  it('fails fast naming the URL when SQ_TEST_REDIS_URL is unreachable', async () => {
    const port = await getFreePort();
    await expect(provideRedis({ env: { SQ_TEST_REDIS_URL: `redis://:pw@127.0.0.1:${port}` } }))
      .rejects.toThrow(`SQ_TEST_REDIS_URL=redis://:***@127.0.0.1:${port} is not reachable`);
  });

  it('starts a redis-server when no container runtime answers', async () => {
    const probeStartedAt = Date.now();
    const missing = await containerRuntimeMissing();
    const probeMs = Date.now() - probeStartedAt;
    const redis = await provideRedis({ env: {} });
    try {
      expect(redis.owned).toBe(true);
      expect(redis.source).toBe(missing === undefined ? 'testcontainers' : 'redis-server');
      if (missing !== undefined) expect(probeMs).toBeLessThan(3500);
      expect(await ping(redis.url)).toBe('PONG');
    } finally {
      await redis.stop();
    }
    await expect(ping(redis.url)).rejects.toThrow();
  });

  it('skips the probe when asked to', async () => {
    const redis = await provideRedis({ env: {}, skipContainers: true });
    try {
      expect(redis.source).toBe('redis-server');
      expect(await ping(redis.url)).toBe('PONG');
    } finally {
      await redis.stop();
    }
  });
});
