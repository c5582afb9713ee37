import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';

/** What a reclaimer gets on each reaper pass. */
export interface ReclaimContext {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly now: number;
  /** Count what would be freed, change nothing. */
  readonly dryRun: boolean;
}

/**
 * Frees what dead workers left held: expired concurrency permits, budget reservations,
 * half-open probes. Implemented by src/guardrails, which owns those keys; the reaper only
 * calls it once per pass, under its cluster-wide lock, and reports the counts.
 */
export interface Reclaimer {
  /** Names the resource in reports and events, e.g. `service-permits`. */
  readonly name: string;
  /** Returns how many entries were (or, in a dry run, would be) freed. */
  reclaim(context: ReclaimContext): Promise<number>;
}
