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
  /**
   * The controller of `external`, for a caller with no other use for it: the handler then
   * gets `external` itself, aborted at the deadline, instead of a second AbortSignal (a few
   * µs each on Node 20, which sets every new signal's prototype).
   */
  readonly externalController?: AbortController;
  readonly log: Logger;
  /** Builds the handler context around the attempt's signal. */
  readonly context: (signal: AbortSignal, usage: Usage[]) => HandlerContext;
}

/** The earliest deadline; the first of equals. */
function earliest(deadlines: readonly Deadline[]): Deadline | undefined {
  let first: Deadline | undefined;
  for (const d of deadlines) if (!first || d.at < first.at) first = d;
  return first;
}

/**
 * The attempt's abort: the handler's signal, and the rejection that abandons a handler still
 * running. A class with its listener assigned in the constructor because tsx (esbuild
 * keepNames) gives every named closure a `defineProperty` call, on every attempt here.
 */
class AttemptAbort {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  /** The external signal's `abort` listener. */
  readonly onExternal: () => void;
  /** Rejects the wait for the handler's result; set while the attempt awaits one. */
  private abandon: ((reason: unknown) => void) | undefined;

  constructor(external: AbortSignal, controller = new AbortController()) {
    this.controller = controller;
    this.signal = controller.signal;
    this.onExternal = () => this.abort(external.reason);
  }

  abort(reason: unknown): void {
    this.controller.abort(reason);
    this.abandon?.(reason);
  }

  /** What the handler returned; for an object (a promise, or any thenable) its result or the abort, whichever comes first. */
  settle(returned: unknown): unknown {
    if ((typeof returned !== 'object' && typeof returned !== 'function') || returned === null) return returned;
    return new Promise((resolve, reject) => {
      this.abandon = reject;
      // As Promise.race does: resolve(returned) would lock the promise to it and ignore reject.
      Promise.resolve(returned).then(resolve, reject);
    });
  }
}

/**
 * Runs one attempt. The handler gets a signal that aborts at the earliest deadline or on an
 * external abort; a handler that ignores it is abandoned then and its late result discarded.
 */
export async function runAttempt(options: RunAttemptOptions): Promise<AttemptResult> {
  const abort = new AttemptAbort(options.external, options.externalController);
  const signal = abort.signal;
  const usage: Usage[] = [];
  const first = earliest(options.deadlines);
  const timer = first ? setTimeout(() => abort.abort(new ScenarioTimeoutError(first.level, first.limitMs, first.subject)), Math.max(0, first.at - Date.now())) : undefined;
  if (options.external.aborted) abort.onExternal();
  else options.external.addEventListener('abort', abort.onExternal);

  try {
    signal.throwIfAborted();
    const parsed = options.handler.input.safeParse(options.input);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
      throw new ScenarioError('invalid_input', `invalid input for handler "${options.handler.name}": ${detail}`);
    }
    const ctx = options.context(signal, usage);
    const returned = options.handler.run(parsed.data, ctx);
    signal.throwIfAborted();
    const value = await abort.settle(returned);
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
    options.external.removeEventListener('abort', abort.onExternal);
  }
}
