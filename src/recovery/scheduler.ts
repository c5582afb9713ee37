import type { RedisConnection } from '../redis/connection.ts';
import { runRecovery, type RecoveryOptions, type RecoveryOutcome } from './reaper.ts';

export interface ReaperOptions extends Omit<RecoveryOptions, 'trigger' | 'dryRun'> {
  /** Time between passes (SQ_RECOVERY_INTERVAL_MS). */
  readonly intervalMs: number;
  /** Delay of a pass asked for by an event (reconnect, a job failed for stalling). @default 1000 */
  readonly soonMs?: number;
}

/** The reaper of one worker; passes are serialized cluster-wide by the recovery lock. */
export interface Reaper {
  /** Asks for a pass soon; calls within `soonMs` share one pass. */
  request(trigger: string): void;
  /** Runs a pass now unless one is running here; resolves with its outcome. */
  runNow(trigger: string): Promise<RecoveryOutcome | undefined>;
  /** Stops the timers; waits at most `waitMs` for a pass in progress. */
  stop(waitMs?: number): Promise<void>;
}

/**
 * Runs the reaper at start, every `intervalMs`, and soon after the connection comes back
 * from an outage (a reply lost in the outage can leave steps queued without a job). Never
 * delays the caller: the first pass starts on the next tick, and failures are only logged.
 */
export function startReaper(options: ReaperOptions): Reaper {
  const { log } = options;
  let running: Promise<RecoveryOutcome | undefined> | undefined;
  let stopped = false;
  let intervalTimer: NodeJS.Timeout | undefined;
  let soonTimer: NodeJS.Timeout | undefined;

  function runNow(trigger: string): Promise<RecoveryOutcome | undefined> {
    if (running) return running;
    const pass = runRecovery({ ...options, trigger })
      .then((outcome) => {
        if (outcome.ran && (outcome.report.actions.length > 0 || outcome.report.errors.length > 0)) {
          const { actions, ...totals } = outcome.report;
          log?.info({ ...totals, actions: actions.length }, 'recovery pass repaired runs');
        }
        return outcome;
      })
      .catch((err: unknown) => {
        log?.warn({ err, trigger }, 'recovery pass failed; the next one retries');
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    running = pass;
    return pass;
  }

  function schedule(): void {
    if (stopped) return;
    intervalTimer = setTimeout(() => {
      void runNow('interval').finally(schedule);
    }, options.intervalMs);
    intervalTimer.unref();
  }

  function request(trigger: string): void {
    if (stopped || soonTimer) return;
    soonTimer = setTimeout(() => {
      soonTimer = undefined;
      void runNow(trigger);
    }, options.soonMs ?? 1_000);
    soonTimer.unref();
  }

  const stopWatching = watchReconnects(options.redis, () => request('reconnect'));
  setImmediate(() => {
    if (!stopped) void runNow('start');
  });
  schedule();

  return {
    request,
    runNow,
    async stop(waitMs = 2_000) {
      stopped = true;
      clearTimeout(intervalTimer);
      clearTimeout(soonTimer);
      stopWatching();
      if (running) await Promise.race([running, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
    },
  };
}

/** Calls `onReconnect` each time the connection is ready again after it was lost. */
function watchReconnects(redis: RedisConnection, onReconnect: () => void): () => void {
  let lost = false;
  const onClose = () => {
    lost = true;
  };
  const onReady = () => {
    if (!lost) return;
    lost = false;
    onReconnect();
  };
  redis.on('close', onClose);
  redis.on('ready', onReady);
  return () => {
    redis.off('close', onClose);
    redis.off('ready', onReady);
  };
}
