import { z } from 'zod';
import { sleep as sleepMs } from '../../engine/backoff.ts';
import { defineHandler } from '../define.ts';

/** `sleep`: the timer step; waits `ms` and stops at once when the attempt's signal aborts. */
export const sleep = defineHandler({
  name: 'sleep',
  input: z.object({ ms: z.number().int().nonnegative() }),
  run: async ({ ms }, ctx) => {
    await sleepMs(ms, ctx.signal);
    return null;
  },
});
