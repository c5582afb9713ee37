import { z } from 'zod';
import { sleep } from '../../engine/backoff.ts';
import { ERROR_KINDS, ScenarioError } from '../../errors.ts';
import { defineHandler } from '../define.ts';

const FaultInput = z.object({
  /** Attempts 1..failTimes fail. @default Infinity when `kind` is given, 0 otherwise */
  failTimes: z.union([z.number().int().nonnegative(), z.literal(Infinity)]).optional(),
  /** @default 'transient' */
  kind: z.enum(ERROR_KINDS).optional(),
  message: z.string().optional(),
  /** Wait this long before failing or succeeding; aborts with the signal unless `ignoreAbort`. */
  hangMs: z.number().int().nonnegative().optional(),
  /** Simulates a handler that ignores its signal, so the engine must abandon it. */
  ignoreAbort: z.boolean().default(false),
  output: z.unknown().optional(),
});

export type FaultInput = z.infer<typeof FaultInput>;

/**
 * `fault`: a deterministic fault injector for drills and tests. Whether an attempt fails
 * depends only on the input and `ctx.attempt`, so a run replays the same way every time.
 */
export const fault = defineHandler({
  name: 'fault',
  input: FaultInput,
  run: async (input, ctx) => {
    if (input.hangMs !== undefined) {
      if (input.ignoreAbort) await new Promise<void>((resolve) => setTimeout(resolve, input.hangMs));
      else await sleep(input.hangMs, ctx.signal);
    }
    const failTimes = input.failTimes ?? (input.kind === undefined ? 0 : Infinity);
    if (ctx.attempt <= failTimes) {
      // ScenarioError derives retryability from the kind: transient kinds retry, others fail fast.
      throw new ScenarioError(input.kind ?? 'transient', input.message ?? `fault injected (attempt ${ctx.attempt})`);
    }
    return input.output ?? null;
  },
});
