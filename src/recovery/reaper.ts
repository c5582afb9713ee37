import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { createRunStore } from '../engine/store.ts';
import { emitRecoveryEvent } from './events.ts';
import { inspectRun, type Repair } from './inspect.ts';
import { lockOwner, tryLock, type HeldLock } from './lock.ts';
import type { Reclaimer } from './reclaim.ts';
import { actionOf, applyRepair, type RepairContext } from './repair.ts';
import { count, saveLastReport, type RecoveryAction, type RecoveryReport } from './report.ts';

/** SPEC §18 default of SQ_RECOVERY_MAX_AGE_MS. */
export const DEFAULT_RECOVERY_MAX_AGE_MS = 24 * 3_600_000;
/**
 * A pass holds the lock this long without renewing it; it renews after every run. Short,
 * because the holder may be a worker that is killed mid-pass: the next pass must not wait long.
 */
export const RECOVERY_LOCK_TTL_MS = 10_000;
/**
 * How long a pass waits before it looks again at a job it found missing. A client or worker
 * writes a step's state, then adds its job: a pass reading between the two sees a job missing
 * that is on its way. A crash leaves the gap for good; a live writer closes it in a round trip.
 */
export const RECOVERY_CONFIRM_MS = 1_000;

export interface RecoveryOptions {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly queue: Queue;
  /** Who runs the pass (a worker id, or `cli`); written into events and the report. */
  readonly by: string;
  /** Active runs created longer ago than this are marked failed. @default 24 h */
  readonly maxAgeMs?: number;
  /** @default 'cli' */
  readonly trigger?: string;
  /** Inspect and report only: no lock, no change, no events, the last report is kept as is. */
  readonly dryRun?: boolean;
  readonly reclaimers?: readonly Reclaimer[];
  readonly log?: Logger;
  readonly lockTtlMs?: number;
  /** @default RECOVERY_CONFIRM_MS */
  readonly confirmMs?: number;
}

/** A pass either ran, or found another one running (the lock's holder, when known). */
export type RecoveryOutcome = { ran: true; report: RecoveryReport } | { ran: false; heldBy?: string };

function emptyReport(options: RecoveryOptions): RecoveryReport {
  const now = new Date().toISOString();
  return {
    startedAt: now,
    finishedAt: now,
    dryRun: options.dryRun === true,
    trigger: options.trigger ?? 'cli',
    by: options.by,
    scanned: 0,
    resumed: 0,
    retried: 0,
    markedFailed: 0,
    skipped: 0,
    reclaimed: 0,
    errors: [],
    actions: [],
  };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A repair that rests only on a job being absent, which a live writer may be about to add. */
function restsOnMissingJob(repair: Repair): boolean {
  return (repair.action === 'resume' || repair.action === 'retry_step') && repair.job === 'missing';
}

/** What a repair is about: the same key in two looks means the same gap. */
function gapOf(repair: Repair): string {
  if (repair.action === 'resume' && 'deadline' in repair) return `deadline|${repair.deadline.group ?? ''}`;
  if ('stepId' in repair) return `${repair.action}|${repair.stepId}|${repair.attempt}`;
  return repair.action;
}

/**
 * One reaper pass (SPEC §13) over the active runs: repairs what crashes between two writes
 * left behind, then lets the reclaimers free expired permits and reservations. One pass at
 * a time cluster-wide; a dry run only reports what a real pass would do.
 */
export async function runRecovery(options: RecoveryOptions): Promise<RecoveryOutcome> {
  const { redis, keys, queue, by, log } = options;
  const dryRun = options.dryRun === true;
  let lock: HeldLock | undefined;
  if (!dryRun) {
    lock = await tryLock(redis, keys.recovery.lock, options.lockTtlMs ?? RECOVERY_LOCK_TTL_MS, by);
    if (!lock) return { ran: false, heldBy: await lockOwner(redis, keys.recovery.lock) };
  }
  const report = emptyReport(options);
  const ctx: RepairContext & { maxAgeMs: number } = {
    redis,
    keys,
    queue,
    store: createRunStore(redis, keys, { workerId: by }),
    maxAgeMs: options.maxAgeMs ?? DEFAULT_RECOVERY_MAX_AGE_MS,
  };
  const record = async (action: RecoveryAction, runExists = true) => {
    count(report, action);
    if (dryRun) return;
    log?.info({ ...action }, 'recovery action');
    const { runId, stepId, attempt, ...data } = action;
    await emitRecoveryEvent(redis, keys, { type: 'recovery.action', runId, stepId, attempt, workerId: by, data, runStream: runExists });
  };

  const extendLock = async (): Promise<boolean> => {
    if (!lock || (await lock.extend())) return true;
    report.errors.push({ message: 'recovery lock lapsed; pass stopped early so two passes never overlap' });
    return false;
  };
  const repair = async (r: Repair) => {
    const action = dryRun ? actionOf(r) : await applyRepair(ctx, r);
    if (action) await record(action, r.action !== 'skip' || r.runExists);
  };
  const failed = (runId: string, e: unknown) => {
    report.errors.push({ runId, message: message(e) });
    log?.warn({ runId, err: e }, 'recovery of a run failed');
  };

  try {
    if (!dryRun) await emitRecoveryEvent(redis, keys, { type: 'recovery.started', workerId: by, data: { trigger: report.trigger } });
    // Gaps that rest on a missing job are repaired only when a second look finds them again.
    const toConfirm = new Map<string, Set<string>>();
    let held = true;
    for (const runId of await redis.zrange(keys.activeRuns, 0, -1)) {
      report.scanned++;
      try {
        for (const r of await inspectRun(ctx, runId, Date.now())) {
          if (!restsOnMissingJob(r)) await repair(r);
          else toConfirm.set(runId, (toConfirm.get(runId) ?? new Set()).add(gapOf(r)));
        }
      } catch (e) {
        failed(runId, e);
      }
      if (!(held = await extendLock())) break;
    }
    if (held && toConfirm.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, options.confirmMs ?? RECOVERY_CONFIRM_MS));
      held = await extendLock();
      for (const [runId, gaps] of held ? toConfirm : []) {
        try {
          for (const r of await inspectRun(ctx, runId, Date.now())) if (restsOnMissingJob(r) && gaps.has(gapOf(r))) await repair(r);
        } catch (e) {
          failed(runId, e);
        }
        if (!(await extendLock())) break;
      }
    }
    for (const reclaimer of options.reclaimers ?? []) {
      try {
        const n = await reclaimer.reclaim({ redis, keys, now: Date.now(), dryRun });
        if (n > 0) await record({ action: 'reclaim', reason: `expired ${reclaimer.name}`, count: n });
      } catch (e) {
        report.errors.push({ message: `reclaim ${reclaimer.name}: ${message(e)}` });
      }
    }
    report.finishedAt = new Date().toISOString();
    if (!dryRun) {
      const { actions, errors, ...totals } = report;
      await emitRecoveryEvent(redis, keys, { type: 'recovery.completed', workerId: by, data: { ...totals, actions: actions.length, errors: errors.length } });
      await saveLastReport(redis, keys, report);
    }
    return { ran: true, report };
  } finally {
    await lock?.release().catch(() => {});
  }
}
