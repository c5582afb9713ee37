/**
 * The handler context's lazy `signal` and `log`: own, enumerable accessors (so `{...ctx}` still
 * copies them, as it did an object literal's getters) whose getter functions are made once,
 * here, rather than per attempt.
 *
 * Why not getters in the context's object literal: V8 keeps a literal's accessors in an
 * AccessorPair, which it allocates in the old generation, and a literal's getters are new
 * closures on every attempt. An old, soon dead AccessorPair pointing at young closures kept the
 * closures, and through them the whole attempt (its job, scope, lease, abort and answer), alive
 * through every young-generation collection until the next full one: ~1.6 KB promoted a step,
 * most of the worker's scavenge time (docs/performance.md, "The worker's young generation").
 * Accessors defined from one set of descriptors share their AccessorPairs: nothing per attempt.
 */
import type { Logger } from 'pino';
import type { AttemptAbort } from './attempt.ts';

/** Where the shared getters find an attempt's abort and logger: not enumerable, so `{...ctx}` skips it. */
const STATE = Symbol('scenario-queue.handlerContext');

interface LazyState {
  readonly abort: AttemptAbort;
  readonly makeLog: () => Logger;
  log?: Logger;
}

type WithState = { [STATE]: LazyState };

function signal(this: WithState): AbortSignal {
  return this[STATE].abort.signal;
}

function log(this: WithState): Logger {
  const state = this[STATE];
  return (state.log ??= state.makeLog());
}

const ACCESSORS: PropertyDescriptorMap = {
  signal: { get: signal, enumerable: true, configurable: true },
  log: { get: log, enumerable: true, configurable: true },
};

/**
 * Gives `target` its `signal` (the attempt's AbortSignal, made when first read) and `log` (made by
 * `makeLog` when first read, then kept) and answers it.
 */
export function defineLazyAccessors<T extends object>(target: T, abort: AttemptAbort, makeLog: () => Logger): T & { readonly signal: AbortSignal; readonly log: Logger } {
  Object.defineProperty(target, STATE, { value: { abort, makeLog } satisfies LazyState });
  return Object.defineProperties(target, ACCESSORS) as T & { readonly signal: AbortSignal; readonly log: Logger };
}
