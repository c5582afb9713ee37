import type { Logger } from 'pino';
import type { ScenarioEvent, EventType } from './types.ts';

export type EventListener = (event: ScenarioEvent) => unknown;

/**
 * In-process listeners (SPEC §14). Listeners run after the state change is committed and
 * are never awaited: a throwing, rejecting or slow listener is logged and skipped.
 */
export function createListeners(log: Logger) {
  const byType = new Map<string, Set<EventListener>>();

  function emit(event: ScenarioEvent): void {
    for (const key of [event.type, '*']) {
      for (const fn of byType.get(key) ?? []) {
        try {
          const out = fn(event);
          if (out && typeof (out as Promise<unknown>).catch === 'function') {
            (out as Promise<unknown>).catch((err: unknown) => log.warn({ err, event: event.type }, 'event listener rejected'));
          }
        } catch (err) {
          log.warn({ err, event: event.type }, 'event listener threw');
        }
      }
    }
  }

  return {
    emit,
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
