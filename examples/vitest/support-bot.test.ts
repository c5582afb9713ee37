/**
 * Scenario tests with `scenario-queue/vitest`. Run them with:
 *
 *   npx vitest run --config examples/vitest/vitest.config.ts
 *
 * Nightly (scheduled) job: live mode, OPENAI_API_KEY set — real calls, real cost, budget-capped.
 * Pull requests: SQ_TEST_MODE=mock — no credentials, no spend. Without the key in live mode
 * the live test is skipped with "missing credentials: OPENAI_API_KEY" as its reason.
 * Redis comes from SQ_TEST_REDIS_URL (or REDIS_URL); with no live worker on the prefix, the
 * fixture starts one inside the test process.
 */
import { describe, expect, test } from 'scenario-queue/vitest';

describe('support bot', () => {
  test('answers a refund question', { timeout: 120_000 }, async ({ scenario }) => {
    const run = await scenario.run('examples/vitest/support-bot.yaml', {
      credentials: ['OPENAI_API_KEY'],
      budget: { usd: 0.05, calls: 10 },
      input: { question: 'Can I get a refund after 30 days?' },
    });
    expect(run.status).toBe('succeeded');
    expect(run.step('answer').output).toMatchObject({ text: expect.any(String) });
  });

  test('the journey holds together without calling anyone', async ({ scenario }) => {
    const run = await scenario.run('examples/vitest/support-bot.yaml', { mode: 'mock', timeoutMs: 4_000 });
    expect(run.status).toBe('succeeded');
    expect(run.step('answer').output).toEqual({ text: 'Refunds are possible within 30 days of purchase.', usage: { input: 14, output: 9 } });
    expect(run.retries).toBe(0);
  });
});
