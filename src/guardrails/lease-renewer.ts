/**
 * Keeps the leases of a worker's running attempts alive (their permits, probe slot and
 * reservations lapse unless renewed): one timer for all of them, each renewed every third of
 * the lease time. A timer per attempt cost its setInterval and clearInterval on every step.
 */
export interface LeaseRenewer<L> {
  /** From now until `release`, `lease` is renewed on every tick. */
  hold(lease: L): void;
  release(lease: L): void;
}

/**
 * `renew` is called for every held lease each `everyMs`. A lease held just after a tick waits
 * up to one period for its first renewal, two thirds of the lease still left. The timer is
 * unref'd: it never keeps a process alive.
 */
export function createLeaseRenewer<L>(everyMs: number, renew: (lease: L) => void): LeaseRenewer<L> {
  const held = new Set<L>();
  let timer: NodeJS.Timeout | undefined;
  return {
    hold(lease) {
      held.add(lease);
      if (!timer) {
        timer = setInterval(() => {
          for (const l of held) renew(l);
        }, everyMs);
        timer.unref();
      }
    },
    release(lease) {
      held.delete(lease);
    },
  };
}
