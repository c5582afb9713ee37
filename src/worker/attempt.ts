import type { Logger } from 'pino';
import { ScenarioError, ScenarioTimeoutError, toFailure, type Failure, type TimeoutLevel } from '../errors.ts';
import type { HandlerContext, HandlerDefinition, Usage } from '../handlers/types.ts';

/** 1 MiB: a larger output fails the step instead of being truncated silently (SPEC §5). */
export const MAX_OUTPUT_BYTES = 1024 * 1024;

/** One deadline that may end the attempt; the earliest wins. */
export interface Deadline {
  level: TimeoutLevel;
  at: number;
  limitMs: number;
  subject?: string;
}

export type AttemptResult =
  | { ok: true; output: string; usage: Usage[] }
  | { ok: false; failure: Failure; usage: Usage[]; abortedBy?: unknown };

export interface RunAttemptOptions {
  readonly handler: HandlerDefinition;
  readonly input: unknown;
  readonly deadlines: readonly Deadline[];
  /** Aborted from outside: cancel, failFast, halt, shutdown. */
  readonly external: AbortSignal;
  readonly log: Logger;
  /** Builds the handler context around the attempt's signal. */
  readonly context: (signal: AbortSignal, usage: Usage[]) => HandlerContext;
}

/**
 * Runs one attempt. The handler gets a signal that aborts at the earliest deadline or on an
 * external abort; a handler that ignores it is abandoned then and its late result discarded.
 */
export async function runAttempt(options: RunAttemptOptions): Promise<AttemptResult> {
  const controller = new AbortController();
  const signal = controller.signal;
  const usage: Usage[] = [];
  const now = Date.now();
  const first = [...options.deadlines].sort((a, b) => a.at - b.at)[0];
  const fire = () => controller.abort(new ScenarioTimeoutError(first.level, first.limitMs, first.subject));
  const timer = first ? setTimeout(fire, Math.max(0, first.at - now)) : undefined;
  const onExternal = () => controller.abort(options.external.reason);
  if (options.external.aborted) onExternal();
  else options.external.addEventListener('abort', onExternal, { once: true });

  let rejectAbort: (reason: unknown) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    rejectAbort = reject;
  });
  aborted.catch(() => {});
  const onAbort = () => rejectAbort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });

  try {
    signal.throwIfAborted();
    const parsed = options.handler.input.safeParse(options.input);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
      throw new ScenarioError('invalid_input', `invalid input for handler "${options.handler.name}": ${detail}`);
    }
    const ctx = options.context(signal, usage);
    const value = await Promise.race([Promise.resolve().then(() => options.handler.run(parsed.data, ctx)), aborted]);
    signal.throwIfAborted();
    const output = JSON.stringify(value === undefined ? null : value);
    if (Buffer.byteLength(output) > MAX_OUTPUT_BYTES) {
      throw new ScenarioError('invalid_output', `output is ${Buffer.byteLength(output)} bytes; the limit is ${MAX_OUTPUT_BYTES} bytes per step`);
    }
    return { ok: true, output, usage };
  } catch (e) {
    if (signal.aborted) return { ok: false, failure: toFailure(signal.reason), usage, abortedBy: signal.reason };
    return { ok: false, failure: toFailure(e), usage };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    options.external.removeEventListener('abort', onExternal);
  }
}
