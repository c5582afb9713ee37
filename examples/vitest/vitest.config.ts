import { defineConfig } from 'vitest/config';

// The example's own config: scenario tests are long, so the default 5 s test timeout is raised;
// the fixture ends (and cancels) a run 1 s before its test would time out.
export default defineConfig({
  test: {
    include: ['examples/vitest/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
