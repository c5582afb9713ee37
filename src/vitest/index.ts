/**
 * `scenario-queue/vitest` (SPEC §19): run scenarios inside vitest tests.
 *
 *   import { test, expect } from 'scenario-queue/vitest';
 *   test('checkout', { timeout: 120_000 }, async ({ scenario }) => {
 *     const run = await scenario.run('scenarios/checkout.yaml', { credentials: ['OPENAI_API_KEY'] });
 *     expect(run.status).toBe('succeeded');
 *   });
 *
 * Per-run options > `SQ_TEST_*` environment > the `scenarioOptions` fixture > defaults.
 * In live mode a missing credential skips the test, naming the missing variables.
 */
import { test as base } from 'vitest';
import { resolveFileOptions, resolveRunOptions, type RunOptions, type ScenarioTestOptions } from './options.ts';
import { openSession, type Session } from './session.ts';
import { runInTest, type RunContext, type ScenarioResult, type ScenarioRunMeta, type ScenarioSource } from './run.ts';

export type { BudgetOptions, RunOptions, ScenarioTestOptions, TestMode, WorkerPolicy } from './options.ts';
export { readTestEnv } from './options.ts';
export { requiredCredentials, type ScenarioResult, type ScenarioRunMeta, type ScenarioSource } from './run.ts';

declare module 'vitest' {
  interface TaskMeta {
    /** Every scenario run of the test, for reporters (cost, retries, verdict). */
    scenarioQueue?: { runs: ScenarioRunMeta[] };
  }
  interface ProvidedContext {
    /** Project-wide fixture options: `test: { provide: { scenarioOptions: {…} } }` in vitest.config.ts. */
    scenarioOptions: ScenarioTestOptions;
  }
}

/** The `scenario` fixture: runs scenarios on behalf of the current test. */
export interface ScenarioFixture {
  /**
   * Runs a scenario and waits for its verdict: a file path (relative to cwd), a file URL
   * (`new URL('./checkout.yaml', import.meta.url)`) or a parsed scenario.
   */
  run(scenario: ScenarioSource, options?: RunOptions): Promise<ScenarioResult>;
  /** The file's session: its client (status, events, cancel) and in-process worker, if any. */
  readonly session: Session;
}

interface Fixtures {
  /** Per-file settings; set with `test.override({ scenarioOptions })` or vitest `provide`. */
  scenarioOptions: ScenarioTestOptions;
  scenarioSession: Session;
  scenario: ScenarioFixture;
}

/** vitest's `test` with the `scenario`, `scenarioSession` and `scenarioOptions` fixtures. */
export const test = base.extend<Fixtures>({
  scenarioOptions: [{}, { scope: 'file', injected: true }],
  scenarioSession: [
    async ({ scenarioOptions }, use) => {
      const session = await openSession(resolveFileOptions(scenarioOptions));
      try {
        await use(session);
      } finally {
        await session.close();
      }
    },
    { scope: 'file' },
  ],
  scenario: async ({ scenarioSession, task, signal, skip, annotate }, use) => {
    const context: RunContext = {
      signal,
      task,
      skip: (note) => skip(note),
      annotate: (message, type) => annotate(message, type),
    };
    await use({
      session: scenarioSession,
      run: (scenario, options) => runInTest(scenarioSession, context, scenario, resolveRunOptions(scenarioSession.options, options)),
    });
  },
});

export const it = test;
export { describe, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
