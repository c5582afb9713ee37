import { describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { startRedisCluster } from '../support/redis-server.ts';

describe('startRedisCluster', () => {
  it('starts a working 3-master cluster and stops it', async () => {
    const cluster = await startRedisCluster(3);
    const client = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
    try {
      expect(cluster.nodes).toHaveLength(3);
      expect(String(await client.call('CLUSTER', 'INFO'))).toContain('cluster_state:ok');
      await client.mset('{sqt-cluster}:a', '1', '{sqt-cluster}:b', '2');
      expect(await client.mget('{sqt-cluster}:a', '{sqt-cluster}:b')).toEqual(['1', '2']);
    } finally {
      client.disconnect();
      await cluster.stop();
    }
    expect(cluster.servers.every((server) => !server.isRunning())).toBe(true);
  });

  it('refuses fewer than 3 masters', async () => {
    await expect(startRedisCluster(2)).rejects.toThrow(/n ≥ 3/);
  });
});
