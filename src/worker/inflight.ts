/**
 * Attempts running on this worker, so control messages (cancel, failFast, halt, deadlines)
 * and shutdown can abort them. Entries are removed in `finally` by the executor.
 *
 * Three parallel arrays, not a Map of Maps: a worker holds at most its concurrency of
 * attempts, so a scan is short, and every step adds and removes one. The Maps' tables were
 * made and dropped as a run's entries came and went, with a closure per entry: ~0.45 KB of
 * garbage a step (bench heap profile).
 */
/** What an in-flight attempt is aborted through (an AttemptAbort, or any AbortController). */
export interface Abortable {
  abort(reason: unknown): void;
}

export function createInflight() {
  const runIds: string[] = [];
  const stepIds: string[] = [];
  const aborts: Abortable[] = [];

  function removeAt(i: number): void {
    const last = aborts.length - 1;
    runIds[i] = runIds[last];
    stepIds[i] = stepIds[last];
    aborts[i] = aborts[last];
    runIds.pop();
    stepIds.pop();
    aborts.pop();
  }

  return {
    /** Registers an attempt; a step registered again replaces its earlier entry. */
    add(runId: string, stepId: string, abortable: Abortable): void {
      for (let i = 0; i < aborts.length; i++) {
        if (runIds[i] === runId && stepIds[i] === stepId) {
          aborts[i] = abortable;
          return;
        }
      }
      runIds.push(runId);
      stepIds.push(stepId);
      aborts.push(abortable);
    },
    /** Removes the entry of `abortable`, if it is still the one registered. */
    remove(abortable: Abortable): void {
      const i = aborts.indexOf(abortable);
      if (i >= 0) removeAt(i);
    },
    /** Aborts the named steps of a run (all of them when `stepIds` is omitted). */
    abort(runId: string, reason: unknown, only?: readonly string[]): number {
      // Collected first: an abort may remove its own entry.
      const hit: Abortable[] = [];
      for (let i = 0; i < aborts.length; i++) {
        if (runIds[i] === runId && (!only || only.includes(stepIds[i]))) hit.push(aborts[i]);
      }
      for (const a of hit) a.abort(reason);
      return hit.length;
    },
    abortAll(reason: unknown): number {
      const hit = [...aborts];
      for (const a of hit) a.abort(reason);
      return hit.length;
    },
    get count(): number {
      return aborts.length;
    },
  };
}

export type Inflight = ReturnType<typeof createInflight>;
