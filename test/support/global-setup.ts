/**
 * vitest globalSetup: provides one Redis per test run (see provideRedis) and hands its
 * URL to test files as `inject('redisUrl')`; teardown stops only what it started.
 */
import type { TestProject } from 'vitest/node';
import { provideRedis } from './redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** Starts (or finds) the run's Redis; the returned function is vitest's teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const startedAt = Date.now();
  const redis = await provideRedis();
  if (process.env.SQ_TEST_VERBOSE === '1') {
    process.stderr.write(`[test-harness] redis from ${redis.source} in ${Date.now() - startedAt}ms\n`);
  }
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
