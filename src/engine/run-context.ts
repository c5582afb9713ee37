import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { StepContext } from '../scenario/cel.ts';
import { storedOutput } from './outputs.ts';

/** Loads `steps.<id>.output` and `.status` for the ids an expression reads, in one round trip. */
export async function loadStepContexts(redis: RedisConnection, keys: Keys, runId: string, ids: readonly string[]): Promise<Record<string, StepContext>> {
  if (ids.length === 0) return {};
  const res = await redis
    .multi()
    .hmget(keys.runOutputs(runId), ...ids)
    .hmget(keys.runSteps(runId), ...ids.map((id) => `st|${id}`))
    .exec();
  const outputs = (res?.[0]?.[1] ?? []) as (string | null)[];
  const statuses = (res?.[1]?.[1] ?? []) as (string | null)[];
  const out: Record<string, StepContext> = {};
  ids.forEach((id, i) => {
    const raw = storedOutput(statuses[i], outputs[i]);
    const ctx: StepContext = { status: statuses[i] ?? 'pending', output: null };
    if (raw !== undefined) ctx.output = JSON.parse(raw);
    else delete (ctx as Partial<StepContext>).output;
    out[id] = ctx;
  });
  return out;
}
