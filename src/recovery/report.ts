import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';

/** What the reaper can do (SPEC §13); also the `action` of `recovery.action` events and metrics. */
export const RECOVERY_ACTIONS = ['resume', 'retry_step', 'mark_failed', 'skip', 'reclaim'] as const;
export type RecoveryActionKind = (typeof RECOVERY_ACTIONS)[number];

/** One repair, done (or, in a dry run, that would be done). */
export interface RecoveryAction {
  action: RecoveryActionKind;
  runId?: string;
  stepId?: string;
  attempt?: number;
  /** Why, in words a user understands. */
  reason: string;
  /** For `reclaim`: how many permits/reservations one reclaimer freed. */
  count?: number;
}

/** The report of one pass (SPEC §13), as `recover --json` prints it and the API serves it. */
export interface RecoveryReport {
  startedAt: string;
  finishedAt: string;
  dryRun: boolean;
  /** What started the pass: `start`, `interval`, `reconnect`, `stalled`, `cli`. */
  trigger: string;
  /** Who ran it (a worker id, or the CLI). */
  by: string;
  scanned: number;
  resumed: number;
  retried: number;
  markedFailed: number;
  skipped: number;
  reclaimed: number;
  errors: { runId?: string; message: string }[];
  actions: RecoveryAction[];
}

/** Keeps the report of the last real (not dry) pass, for `GET /recovery/status`. */
export async function saveLastReport(redis: RedisConnection, keys: Keys, report: RecoveryReport): Promise<void> {
  await redis.set(keys.recovery.last, JSON.stringify(report));
}

/** The last report kept, if any pass has run under this prefix. */
export async function lastReport(redis: RedisConnection, keys: Keys): Promise<RecoveryReport | undefined> {
  const raw = await redis.get(keys.recovery.last);
  return raw ? (JSON.parse(raw) as RecoveryReport) : undefined;
}

/** Adds one action to the report's counters. */
export function count(report: RecoveryReport, action: RecoveryAction): void {
  report.actions.push(action);
  if (action.action === 'resume') report.resumed++;
  else if (action.action === 'retry_step') report.retried++;
  else if (action.action === 'mark_failed') report.markedFailed++;
  else if (action.action === 'skip') report.skipped++;
  else report.reclaimed += action.count ?? 1;
}
