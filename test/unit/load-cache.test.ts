import { describe, expect, it } from 'vitest';
import { createLoadCache } from '../../src/worker/load-cache.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('createLoadCache', () => {
  it('shares one load per key and answers peek once it resolved', async () => {
    let loads = 0;
    const cache = createLoadCache(10, async (key) => (loads++, { key }));
    expect(cache.peek('a')).toBeUndefined();
    const [x, y] = await Promise.all([cache.get('a'), cache.get('a')]);
    expect(x).toBe(y);
    expect(loads).toBe(1);
    expect(cache.peek('a')).toBe(x);
  });

  it('forgets a load that finds nothing or fails, so the next get tries again', async () => {
    let fail = true;
    const cache = createLoadCache(10, async (key) => {
      if (fail) throw new Error('down');
      return key === 'missing' ? undefined : key;
    });
    await expect(cache.get('a')).rejects.toThrow('down');
    await tick();
    expect(cache.size).toBe(0);
    fail = false;
    expect(await cache.get('missing')).toBeUndefined();
    await tick();
    expect(cache.size).toBe(0);
    expect(await cache.get('a')).toBe('a');
  });

  it('evicts the least recently used, and a load that answers after its eviction changes nothing', async () => {
    const pending = new Map<string, (v: string) => void>();
    const cache = createLoadCache<string>(2, (key) => new Promise((resolve) => pending.set(key, resolve)));
    const a = cache.get('a');
    pending.get('a')?.('a1');
    await a;
    void cache.get('b');
    cache.peek('a');
    void cache.get('c');
    expect(cache.size).toBe(2);
    pending.get('b')?.('late');
    await tick();
    expect(cache.peek('b')).toBeUndefined();
    expect(cache.peek('a')).toBe('a1');
  });

  it('keeps a key in use through a stream of new ones, and evicts the unused oldest first', async () => {
    const cache = createLoadCache<string>(3, async (key) => key);
    await cache.get('hot');
    for (let i = 0; i < 20; i++) {
      expect(cache.peek('hot')).toBe('hot');
      await cache.get(`once-${i}`);
      expect(cache.size).toBeLessThanOrEqual(3);
    }
    expect(cache.peek('once-19')).toBe('once-19');
    expect(cache.peek('once-18')).toBe('once-18');
    expect(cache.peek('once-0')).toBeUndefined();
  });
});
