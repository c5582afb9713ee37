import type { Logger } from 'pino';
import type { ScenarioEvent, EventType } from './types.ts';

export type EventListener = (event: ScenarioEvent) => unknown;

/** A listener whose synchronous part takes longer than this is logged as slow. */
export const SLOW_LISTENER_MS = 100;
/** A listener whose promise has not settled after this long is logged as slow. */
export const STUCK_LISTENER_MS = 5_000;

/**
 * In-process listeners (SPEC §14). Listeners run after the state change is committed, on a
 * later tick, and are never awaited: a throwing, rejecting or slow listener is logged and
 * skipped, and execution goes on.
 */
export function createListeners(log: Logger) {
  const byType = new Map<string, Set<EventListener>>();

  function call(fn: EventListener, event: ScenarioEvent): void {
    const started = performance.now();
    try {
      const out = fn(event);
      const tookMs = performance.now() - started;
      if (tookMs > SLOW_LISTENER_MS) log.warn({ event: event.type, tookMs: Math.round(tookMs) }, 'event listener slow');
      if (out && typeof (out as Promise<unknown>).then === 'function') {
        const timer = setTimeout(() => log.warn({ event: event.type, afterMs: STUCK_LISTENER_MS }, 'event listener slow'), STUCK_LISTENER_MS);
        timer.unref();
        (out as Promise<unknown>).then(
          () => clearTimeout(timer),
          (err: unknown) => {
            clearTimeout(timer);
            log.warn({ err, event: event.type }, 'event listener rejected');
          },
        );
      }
    } catch (err) {
      log.warn({ err, event: event.type }, 'event listener threw');
    }
  }

  function emit(event: ScenarioEvent): void {
    const own = byType.get(event.type);
    if (own) for (const fn of own) setImmediate(call, fn, event);
    const all = byType.get('*');
    if (all) for (const fn of all) setImmediate(call, fn, event);
  }

  return {
    emit,
    /** Whether an event of this type reaches any listener: callers skip building the others. */
    wants(type: string): boolean {
      return (byType.get(type)?.size ?? 0) > 0 || (byType.get('*')?.size ?? 0) > 0;
    },
    get size() {
      let n = 0;
      for (const set of byType.values()) n += set.size;
      return n;
    },
    /** Subscribes to one event type, or '*' for all; returns the unsubscribe function. */
    on(type: EventType | '*', fn: EventListener): () => void {
      const set = byType.get(type) ?? new Set();
      set.add(fn);
      byType.set(type, set);
      return () => set.delete(fn);
    },
  };
}

export type Listeners = ReturnType<typeof createListeners>;
