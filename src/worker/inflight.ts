/**
 * Attempts running on this worker, so control messages (cancel, failFast, halt, deadlines)
 * and shutdown can abort them. Entries are removed in `finally` by the executor.
 */
/** What an in-flight attempt is aborted through (an AttemptAbort, or any AbortController). */
export interface Abortable {
  abort(reason: unknown): void;
}

export function createInflight() {
  const byRun = new Map<string, Map<string, Abortable>>();

  return {
    add(runId: string, stepId: string, controller: Abortable): () => void {
      const steps = byRun.get(runId) ?? new Map<string, Abortable>();
      steps.set(stepId, controller);
      byRun.set(runId, steps);
      return () => {
        if (steps.get(stepId) === controller) steps.delete(stepId);
        if (steps.size === 0 && byRun.get(runId) === steps) byRun.delete(runId);
      };
    },
    /** Aborts the named steps of a run (all of them when `stepIds` is omitted). */
    abort(runId: string, reason: unknown, stepIds?: readonly string[]): number {
      const steps = byRun.get(runId);
      if (!steps) return 0;
      let n = 0;
      for (const [id, c] of steps) {
        if (stepIds && !stepIds.includes(id)) continue;
        c.abort(reason);
        n++;
      }
      return n;
    },
    abortAll(reason: unknown): number {
      let n = 0;
      for (const runId of byRun.keys()) n += this.abort(runId, reason);
      return n;
    },
    get count(): number {
      let n = 0;
      for (const steps of byRun.values()) n += steps.size;
      return n;
    },
  };
}

export type Inflight = ReturnType<typeof createInflight>;
