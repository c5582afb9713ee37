/**
 * Fresh copies of the constant parts of a step's `with`, made on every attempt. A JSON tree
 * (what scenario files parse to) is copied by a plain walk, which costs a fraction of
 * `structuredClone` for the small values steps carry; anything else still goes through
 * `structuredClone`, so the copy is the same either way.
 */

/** A function that returns a new deep copy of `value` on each call (primitives as they are). */
export function copier(value: unknown): () => unknown {
  if (typeof value !== 'object' || value === null) return () => value;
  return isJsonTree(value, new Set()) ? () => copyJson(value) : () => structuredClone(value);
}

/**
 * Plain objects and arrays of primitives, each object reached once: no cycles or shared
 * parts (structuredClone keeps those shared), no holes or extra array properties, no
 * `__proto__` key (assigning it would set the prototype), no symbols or functions
 * (structuredClone throws on those).
 */
function isJsonTree(value: unknown, seen: Set<object>): boolean {
  if (typeof value === 'symbol' || typeof value === 'function') return false;
  if (typeof value !== 'object' || value === null) return true;
  if (seen.has(value)) return false;
  seen.add(value);
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    return proto === Array.prototype && Object.keys(value).length === value.length && value.every((item) => isJsonTree(item, seen));
  }
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.keys(value).every((key) => key !== '__proto__' && isJsonTree((value as Record<string, unknown>)[key], seen));
}

function copyJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = copyJson((value as Record<string, unknown>)[key]);
  return out;
}
