/**
 * A bounded LRU of loads by key: concurrent gets of one key share its promise, and once the
 * load resolved `peek` answers without waiting a tick (a step's hot path awaits nothing it need
 * not). A load that fails or finds nothing is forgotten, so the next get tries again; a load
 * that answers after its entry was evicted (and maybe loaded again) changes nothing.
 *
 * Recency is a flag on the entry, not the Map's order: moving a key to the end on every hit
 * (delete, then set) made V8 rebuild the Map's table every few hundred steps, tables that then
 * outlived young-generation collections. Eviction is CLOCK (second chance) over the Map's
 * insertion order, only when a new key arrives at capacity: from the oldest, an entry hit
 * since it was last passed loses its flag and goes to the end once; the first one not hit is
 * evicted. A scan of every entry for the oldest cost each new run at capacity ~1 % of a
 * worker's CPU in runs of 10 steps.
 */
interface Entry<V> {
  readonly loading: Promise<V | undefined>;
  value: V | undefined;
  /** Hit since it came, or since eviction last passed it. */
  hit: boolean;
}

export function createLoadCache<V>(capacity: number, load: (key: string) => Promise<V | undefined>) {
  const entries = new Map<string, Entry<V>>();

  function evictOne(): void {
    // A moved entry is met again at the end of the walk, not hit since: at most one lap.
    for (const [key, entry] of entries) {
      entries.delete(key);
      if (!entry.hit) return;
      entry.hit = false;
      entries.set(key, entry);
    }
  }

  return {
    get(key: string): Promise<V | undefined> {
      const found = entries.get(key);
      if (found) {
        found.hit = true;
        return found.loading;
      }
      const loading = load(key);
      const entry: Entry<V> = { loading, value: undefined, hit: false };
      const forget = () => {
        if (entries.get(key) === entry) entries.delete(key);
      };
      loading
        .then((value) => {
          if (value === undefined) forget();
          else entry.value = value;
        })
        .catch(forget);
      if (entries.size >= capacity) evictOne();
      entries.set(key, entry);
      return loading;
    },
    /** The value when its load resolved already (the same object `get` resolves with), else undefined. */
    peek(key: string): V | undefined {
      const entry = entries.get(key);
      if (entry?.value === undefined) return undefined;
      entry.hit = true;
      return entry.value;
    },
    get size() {
      return entries.size;
    },
  };
}
