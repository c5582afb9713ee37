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
  /** Or a function that lists them: they are needed only by a handler that answers asynchronously. */
  readonly deadlines: readonly Deadline[] | (() => readonly Deadline[]);
  /** The attempt's abort, registered where cancel, failFast, halt and shutdown reach it. */
  readonly abort: AttemptAbort;
  readonly log?: Logger;
  /** Builds the handler context around the attempt's abort (`ctx.signal` is `abort.signal`). */
  readonly context: (abort: AttemptAbort, usage: Usage[]) => HandlerContext;
}

/**
 * An attempt's abort: aborted at the earliest deadline or from outside (cancel, failFast,
 * halt, shutdown). Its AbortSignal is made when first asked for: on Node 20 a new signal costs
 * more than a no-op step's whole handler (its prototype is set per instance), and most
 * handlers never read `ctx.signal`. A class with no named closures because tsx (esbuild
 * keepNames) gives every named closure a `defineProperty` call, on every attempt here.
 */
export class AttemptAbort {
  aborted = false;
  reason: unknown = undefined;
  private controller: AbortController | undefined;
  /** Rejects the wait for the handler's result; set while the attempt awaits one. */
  private abandon: ((reason: unknown) => void) | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.abandon?.(reason);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** What the handler returned; for an object (a promise, or any thenable) its result or the abort, whichever comes first. */
  settle(returned: unknown): unknown {
    if ((typeof returned !== 'object' && typeof returned !== 'function') || returned === null) return returned;
    return new Promise((resolve, reject) => {
      if (this.aborted) return reject(this.reason);
      this.abandon = reject;
      // As Promise.race does: resolve(returned) would lock the promise to it and ignore reject.
      Promise.resolve(returned).then(resolve, reject);
    });
  }
}

/** The earliest deadline; the first of equals. */
function earliest(deadlines: readonly Deadline[]): Deadline | undefined {
  let first: Deadline | undefined;
  for (const d of deadlines) if (!first || d.at < first.at) first = d;
  return first;
}

/**
 * Runs one attempt. The handler gets a signal that aborts at the earliest deadline or on an
 * external abort; a handler that ignores it is abandoned then and its late result discarded.
 * A handler that answers synchronously gets its result back synchronously: no deadline timer
 * (none can fire while it runs) and no promise, which were most of a no-op attempt's cost.
 */
export function runAttempt(options: RunAttemptOptions): AttemptResult | Promise<AttemptResult> {
  const abort = options.abort;
  const usage: Usage[] = [];
  let returned: unknown;
  try {
    abort.throwIfAborted();
    returned = options.handler.run(parseInput(options.handler, options.input), options.context(abort, usage));
    abort.throwIfAborted();
    if ((typeof returned !== 'object' && typeof returned !== 'function') || returned === null) return succeeded(returned, usage);
  } catch (e) {
    return failed(e, abort, usage);
  }
  return awaitHandler(returned, options, usage);
}

/** The rest of an attempt whose handler answered with an object (a promise, or any thenable). */
async function awaitHandler(returned: unknown, options: RunAttemptOptions, usage: Usage[]): Promise<AttemptResult> {
  const abort = options.abort;
  const first = earliest(typeof options.deadlines === 'function' ? options.deadlines() : options.deadlines);
  const timer = first ? setTimeout(() => abort.abort(new ScenarioTimeoutError(first.level, first.limitMs, first.subject)), Math.max(0, first.at - Date.now())) : undefined;
  try {
    const value = await abort.settle(returned);
    abort.throwIfAborted();
    return succeeded(value, usage);
  } catch (e) {
    return failed(e, abort, usage);
  } finally {
    clearTimeout(timer);
  }
}

/** The handler's input as its schema parses it; a schema that takes anything (`z.unknown()`, `z.any()`) is not run. */
function parseInput(handler: HandlerDefinition, input: unknown): unknown {
  const def = (handler.input as { _zod?: { def?: { type?: string; checks?: unknown[] } } })._zod?.def;
  if ((def?.type === 'unknown' || def?.type === 'any') && !def.checks?.length) return input;
  const parsed = handler.input.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
    throw new ScenarioError('invalid_input', `invalid input for handler "${handler.name}": ${detail}`);
  }
  return parsed.data;
}

function succeeded(value: unknown, usage: Usage[]): AttemptResult {
  const output = JSON.stringify(value === undefined ? null : value);
  if (output.length * 3 > MAX_OUTPUT_BYTES && Buffer.byteLength(output) > MAX_OUTPUT_BYTES) {
    throw new ScenarioError('invalid_output', `output is ${Buffer.byteLength(output)} bytes; the limit is ${MAX_OUTPUT_BYTES} bytes per step`);
  }
  return { ok: true, output, usage };
}

function failed(e: unknown, abort: AttemptAbort, usage: Usage[]): AttemptResult {
  if (abort.aborted) return { ok: false, failure: toFailure(abort.reason), usage, abortedBy: abort.reason };
  return { ok: false, failure: toFailure(e), usage };
}
