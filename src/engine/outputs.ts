/**
 * A step's output JSON as readers see it. A step that succeeded with `null` (a handler that
 * returned nothing: most checks and waits) has no output stored (finishAttempt is sent none,
 * src/engine/store.ts): it reads as `null`. Undefined for a step that has no output (it did
 * not succeed, or has not ended).
 */
export function storedOutput(status: string | null | undefined, raw: string | null | undefined): string | undefined {
  if (raw !== null && raw !== undefined) return raw;
  return status === 'succeeded' || status === 'reused' ? 'null' : undefined;
}
