import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';

const perTest = useTestRedis('ctx');
const perFile = useTestRedis('ctx-file', { scope: 'file' });
const seen: string[] = [];
let filePrefixInBeforeAll = '';

beforeAll(() => {
  filePrefixInBeforeAll = perFile.prefix;
  expect(() => perTest.prefix).toThrow(/per test/);
});

afterAll(async () => {
  // Keys written by tests are still there: cleanup runs after this hook.
  expect(await perTest.redis.exists(`${seen[0]}:k`)).toBe(1);
});

describe('useTestRedis', () => {
  it('gives the run URL, a client and an owned prefix', async () => {
    expect(perTest.url).toBe(inject('redisUrl'));
    expect(perTest.prefix).toMatch(/^sqt-ctx-[a-z0-9]{6}$/);
    await perTest.redis.set(`${perTest.prefix}:k`, 'v');
    seen.push(perTest.prefix);
  });

  it('gives each test its own prefix, and a file-scoped one stays', () => {
    seen.push(perTest.prefix);
    expect(seen[1]).not.toBe(seen[0]);
    expect(perFile.prefix).toBe(filePrefixInBeforeAll);
  });
});
