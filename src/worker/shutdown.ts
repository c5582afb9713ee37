/**
 * Timings of a worker's life and death (docs/recovery.md explains the choice).
 *
 * A killed worker's job restarts once its lock has expired and a stalled check has run:
 * between lockDuration/2 (locks are renewed every half duration) + 0 and lockDuration +
 * stalledInterval, i.e. 2.5-7 s with these defaults. Shorter locks would mistake a busy
 * event loop (a blocked loop cannot renew) for a dead worker.
 */
export const DEFAULT_LOCK_DURATION_MS = 5_000;
export const DEFAULT_STALLED_INTERVAL_MS = 2_000;
/** After a connection error BullMQ waits this long before fetching again (its default: 15 s). */
export const RUN_RETRY_DELAY_MS = 1_000;

/** After the grace: how long aborted attempts get to give their jobs back. */
export const SHUTDOWN_GIVE_BACK_MS = 1_000;
/** Then: heartbeat removal, unsubscribe, reaper and queue close, all together. */
export const SHUTDOWN_CLEANUP_MS = 500;

/** Resolves true when `promise` settles within `ms`, false otherwise; never rejects. */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
}
