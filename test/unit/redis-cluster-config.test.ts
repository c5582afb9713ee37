import { describe, expect, it } from 'vitest';
import { isClusterUrl, parseClusterUrl } from '../../src/redis/connection.ts';
import { ConfigError, loadEnv } from '../../src/config.ts';

describe('parseClusterUrl', () => {
  it('reads seed nodes, credentials and TLS from a redis+cluster:// URL', () => {
    expect(parseClusterUrl('redis+cluster://u:p%40ss@10.0.0.1:7000,redis-b:7001,[::1]:7002')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-b', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      username: 'u',
      password: 'p@ss',
      tls: false,
    });
    expect(parseClusterUrl('rediss+cluster://:secret@redis:6380/')).toEqual({ nodes: [{ host: 'redis', port: 6380 }], password: 'secret', tls: true });
  });

  it('defaults the port to 6379', () => {
    expect(parseClusterUrl('redis+cluster://redis-0,redis-1').nodes).toEqual([
      { host: 'redis-0', port: 6379 },
      { host: 'redis-1', port: 6379 },
    ]);
  });

  it('names the bad node and hides the password', () => {
    expect(() => parseClusterUrl('redis+cluster://a:99999')).toThrow(/bad cluster node "a:99999"/);
    expect(() => parseClusterUrl('redis+cluster://u:hunter2@/0')).toThrow(/u:\*\*\*@/);
  });

  it('tells cluster URLs from standalone ones', () => {
    expect(isClusterUrl('redis+cluster://a:1')).toBe(true);
    expect(isClusterUrl('rediss+cluster://a:1')).toBe(true);
    expect(isClusterUrl('redis://a:1')).toBe(false);
  });
});

describe('loadEnv on Redis Cluster', () => {
  it('accepts a cluster URL with a hash-tagged prefix', () => {
    expect(loadEnv({ REDIS_URL: 'redis+cluster://a:7000,b:7001', SQ_PREFIX: '{sq}' })).toMatchObject({ SQ_PREFIX: '{sq}' });
  });

  it('refuses a prefix without a hash tag, which would split keys over slots (CROSSSLOT)', () => {
    expect(() => loadEnv({ REDIS_URL: 'redis+cluster://a:7000', SQ_PREFIX: 'sq' })).toThrow(ConfigError);
    expect(() => loadEnv({ REDIS_URL: 'redis+cluster://a:7000' })).toThrow(/SQ_PREFIX.*hash-tagged.*\{sq\}/);
  });
});
