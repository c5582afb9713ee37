/**
 * A bounded LRU of loads by key: concurrent gets of one key share its promise, and once the
 * load resolved `peek` answers without waiting a tick (a step's hot path awaits nothing it need
 * not). A load that fails or finds nothing is forgotten, so the next get tries again; a load
 * that answers after its entry was evicted (and maybe loaded again) changes nothing.
 */
export function createLoadCache<V>(capacity: number, load: (key: string) => Promise<V | undefined>) {
  const entries = new Map<string, Promise<V | undefined>>();
  /** The resolved ones among `entries`. */
  const loaded = new Map<string, V>();

  function bump(key: string, entry: Promise<V | undefined>): void {
    entries.delete(key);
    entries.set(key, entry);
  }

  return {
    get(key: string): Promise<V | undefined> {
      const entry = entries.get(key);
      if (entry) {
        bump(key, entry);
        return entry;
      }
      const loading = load(key);
      const forget = () => {
        if (entries.get(key) !== loading) return;
        entries.delete(key);
        loaded.delete(key);
      };
      loading
        .then((value) => {
          if (value === undefined) forget();
          else if (entries.get(key) === loading) loaded.set(key, value);
        })
        .catch(forget);
      entries.set(key, loading);
      if (entries.size > capacity) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
        loaded.delete(oldest);
      }
      return loading;
    },
    /** The value when its load resolved already (the same object `get` resolves with), else undefined. */
    peek(key: string): V | undefined {
      const value = loaded.get(key);
      const entry = entries.get(key);
      if (value === undefined || !entry) return undefined;
      bump(key, entry);
      return value;
    },
    get size() {
      return entries.size;
    },
  };
}
