import { describe, expect, it } from 'vitest';
import { readTestEnv, resolveFileOptions, resolveRunOptions } from '../../src/vitest/options.ts';
import { requiredCredentials } from '../../src/vitest/run.ts';
import { parseScenario } from '../../src/scenario/load.ts';

describe('vitest fixture options', () => {
  it('defaults fit a scheduled run: live, auto worker, local Redis, prefix sq', () => {
    const o = resolveFileOptions({}, {});
    expect(o).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', prefix: 'sq', mode: 'live', worker: 'auto', concurrency: 4, credentials: [], input: {} });
    expect(o.timeoutMs).toBeUndefined();
    expect(o.suite).toMatch(/^vitest-/);
  });

  it('applies SQ_TEST_* over fixture options, and fixture options over REDIS_URL / SQ_PREFIX', () => {
    const fixture = { redisUrl: 'redis://fixture:1', prefix: 'fx', mode: 'live' as const, timeoutMs: 1000, budget: { usd: 1, calls: 5 } };
    expect(resolveFileOptions(fixture, { REDIS_URL: 'redis://env:2', SQ_PREFIX: 'envp' })).toMatchObject({ redisUrl: 'redis://fixture:1', prefix: 'fx' });
    const o = resolveFileOptions(fixture, {
      SQ_TEST_REDIS_URL: 'redis://test:3',
      SQ_TEST_PREFIX: '{t}',
      SQ_TEST_MODE: 'mock',
      SQ_TEST_TIMEOUT_MS: '9000',
      SQ_TEST_BUDGET_USD: '0.5',
      SQ_TEST_WORKER: 'never',
    });
    expect(o).toMatchObject({ redisUrl: 'redis://test:3', prefix: '{t}', mode: 'mock', timeoutMs: 9000, worker: 'never', budget: { usd: 0.5, calls: 5 } });
  });

  it('lets a run override mode, timeout and budget limits, and adds its credentials and input', () => {
    const file = resolveFileOptions({ credentials: ['A'], input: { x: 1, y: 1 }, budget: { usd: 1 } }, {});
    const run = resolveRunOptions(file, { mode: 'mock', timeoutMs: 50, credentials: ['B', 'A'], input: { y: 2 }, budget: { tokens: 10 } });
    expect(run).toMatchObject({ mode: 'mock', timeoutMs: 50, credentials: ['A', 'B'], input: { x: 1, y: 2 }, budget: { usd: 1, tokens: 10 } });
  });

  it('names every bad SQ_TEST_* variable', () => {
    expect(() => readTestEnv({ SQ_TEST_MODE: 'sometimes', SQ_TEST_TIMEOUT_MS: 'soon' })).toThrow(/SQ_TEST_MODE must be live or mock.*SQ_TEST_TIMEOUT_MS must be a whole number/);
  });
});

describe('requiredCredentials', () => {
  it('takes the asked names and those gated with skip; mock and fail gates follow the engine', () => {
    const def = parseScenario(
      `
name: creds
credentials: [RUN_KEY]
steps:
  - { id: a, uses: noop, credentials: [SKIP_KEY] }
  - { id: b, uses: noop, credentials: [MOCK_KEY], onMissingCredentials: mock }
  - { id: c, uses: noop, credentials: [FAIL_KEY], onMissingCredentials: fail }
`,
      { knownHandlers: ['noop'] },
    );
    expect(requiredCredentials(def, ['ASKED'])).toEqual(['ASKED', 'RUN_KEY', 'SKIP_KEY']);
  });
});
