/**
 * A bounded LRU of loads by key: concurrent gets of one key share its promise, and once the
 * load resolved `peek` answers without waiting a tick (a step's hot path awaits nothing it need
 * not). A load that fails or finds nothing is forgotten, so the next get tries again; a load
 * that answers after its entry was evicted (and maybe loaded again) changes nothing.
 *
 * Recency is a stamp on the entry, not the Map's order: moving a key to the end on every hit
 * (delete, then set) made V8 rebuild the Map's table every few hundred steps, tables that then
 * outlived young-generation collections. The least recently used is found by a scan, only when
 * a new key arrives at capacity.
 */
interface Entry<V> {
  readonly loading: Promise<V | undefined>;
  value: V | undefined;
  used: number;
}

export function createLoadCache<V>(capacity: number, load: (key: string) => Promise<V | undefined>) {
  const entries = new Map<string, Entry<V>>();
  let clock = 0;

  function evictOldest(): void {
    let oldest: string | undefined;
    let oldestUse = Infinity;
    for (const [key, entry] of entries) {
      if (entry.used < oldestUse) {
        oldestUse = entry.used;
        oldest = key;
      }
    }
    if (oldest !== undefined) entries.delete(oldest);
  }

  return {
    get(key: string): Promise<V | undefined> {
      const found = entries.get(key);
      if (found) {
        found.used = ++clock;
        return found.loading;
      }
      const loading = load(key);
      const entry: Entry<V> = { loading, value: undefined, used: ++clock };
      const forget = () => {
        if (entries.get(key) === entry) entries.delete(key);
      };
      loading
        .then((value) => {
          if (value === undefined) forget();
          else entry.value = value;
        })
        .catch(forget);
      if (entries.size >= capacity) evictOldest();
      entries.set(key, entry);
      return loading;
    },
    /** The value when its load resolved already (the same object `get` resolves with), else undefined. */
    peek(key: string): V | undefined {
      const entry = entries.get(key);
      if (entry?.value === undefined) return undefined;
      entry.used = ++clock;
      return entry.value;
    },
    get size() {
      return entries.size;
    },
  };
}
