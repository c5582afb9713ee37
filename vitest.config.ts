import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
    // One Redis per run (SQ_TEST_REDIS_URL, else testcontainers, else redis-server),
    // handed to files as inject('redisUrl'); see test/support/context.ts.
    globalSetup: ['test/support/global-setup.ts'],
    // Real child processes (workers, redis-server) behave best under process isolation.
    pool: 'forks',
    // 2 cores: integration files spawn workers and Redis processes of their own.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
