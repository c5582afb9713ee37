import { Optional } from '@marcbachmann/cel-js';

/**
 * Bridges JSON and the CEL evaluator's value model. The evaluator represents CEL `int`
 * as BigInt and `double` as number, so a JSON `3` would be a double and `input.n + 1`
 * would fail with "no such overload: double + int". SPEC §3 wants JSON integers to be
 * ints, so integers go in as BigInt and come back out as plain numbers.
 */

/** JSON value → CEL value: integral numbers become BigInt, everything else is kept. */
export function toCelValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCelValue);
  if (isPlainObject(value)) {
    // fromEntries defines own properties, so a JSON key "__proto__" stays data.
    const entries: [string, unknown][] = [];
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) entries.push([key, toCelValue(item)]);
    }
    return Object.fromEntries(entries);
  }
  return value;
}

/** CEL value → JSON value: BigInt → number, bytes → base64, timestamp → ISO string. */
export function fromCelValue(value: unknown): unknown {
  switch (typeof value) {
    case 'bigint':
      return Number(value);
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON has no NaN/Infinity; null is what JSON.stringify would write anyway.
      return Number.isFinite(value) ? value : null;
    case 'undefined':
      return null;
    case 'object':
      return fromCelObject(value);
    default:
      return String(value);
  }
}

function fromCelObject(value: object | null): unknown {
  if (value === null) return null;
  if (Array.isArray(value)) return value.map(fromCelValue);
  if (value instanceof Optional) return value.hasValue() ? fromCelValue(value.value()) : null;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([key, item]) => [String(fromCelValue(key)), fromCelValue(item)]));
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fromCelValue(item)]));
  }
  // uint, duration, type values: their string form is the CEL literal users recognise.
  const unsigned = (value as { value?: unknown }).value;
  if (value.constructor?.name === 'UnsignedInteger' && typeof unsigned === 'number') return unsigned;
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
