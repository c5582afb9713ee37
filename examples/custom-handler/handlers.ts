// Custom handlers for examples/custom-handler/scenario.yaml. Load them into a worker:
//   scenario-queue worker --handlers ./examples/custom-handler/handlers.ts
import { z } from 'zod';
import { defineHandler, DeterministicError, TransientError } from 'scenario-queue';

/** Scores a text: deterministic, no network. Transient failures are simulated for attempt 1 when asked. */
export const score = defineHandler({
  name: 'score',
  input: z.object({
    text: z.string().min(1),
    flakyFirstAttempt: z.boolean().default(false),
  }),
  async run(input, ctx) {
    ctx.signal.throwIfAborted();
    if (input.flakyFirstAttempt && ctx.attempt === 1) throw new TransientError('scoring service warming up');
    await ctx.checkpoint({ scoredChars: input.text.length });
    const words = input.text.trim().split(/\s+/);
    ctx.reportUsage({ calls: 1 });
    ctx.log.info({ words: words.length }, 'scored');
    return { words: words.length, longest: words.reduce((a, b) => (b.length > a.length ? b : a), '') };
  },
});

/** Fails for good (never retried) when a word is on the deny list. */
export const moderate = defineHandler({
  name: 'moderate',
  input: z.object({ text: z.string(), deny: z.array(z.string()).default([]) }),
  run(input) {
    const hit = input.deny.find((word) => input.text.toLowerCase().includes(word.toLowerCase()));
    if (hit) throw new DeterministicError(`text contains denied word "${hit}"`, { kind: 'assertion' });
    return { ok: true };
  },
});
