/**
 * `defineHandler`: the one way custom handler modules declare a handler (SPEC §4).
 * The brand is a registered symbol, so a handler built against another copy of this
 * package (a worker's own node_modules) is still recognised.
 */
import type { HandlerDefinition } from './types.ts';

const HANDLER_BRAND: unique symbol = Symbol.for('scenario-queue.HandlerDefinition');

/** Names appear in `uses:` and in Redis keys and metrics labels, hence the narrow alphabet. */
export const HANDLER_NAME_PATTERN = /^[a-zA-Z0-9_.-]+$/;

/** A handler definition that went through `defineHandler`. */
export type DefinedHandler<I = unknown, O = unknown> = HandlerDefinition<I, O> & { readonly [HANDLER_BRAND]: true };

/** Validates a handler's shape and returns it frozen and branded; `I` is inferred from `input`. */
export function defineHandler<I, O>(def: HandlerDefinition<I, O>): DefinedHandler<I, O> {
  assertHandlerShape(def);
  return Object.freeze({ ...def, [HANDLER_BRAND]: true as const });
}

/** True for values returned by `defineHandler`, from any copy of this package. */
export function isHandlerDefinition(value: unknown): value is DefinedHandler {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[HANDLER_BRAND] === true;
}

/**
 * Throws a TypeError naming the offending field. Structural checks rather than
 * `instanceof ZodType`, because the schema may come from another zod copy.
 */
function assertHandlerShape(def: unknown): asserts def is HandlerDefinition {
  if (typeof def !== 'object' || def === null) {
    throw new TypeError(`defineHandler: expected an object with name, input and run (got ${describe(def)})`);
  }
  const { name, input, run, estimate } = def as Record<string, unknown>;
  if (typeof name !== 'string' || !HANDLER_NAME_PATTERN.test(name)) {
    throw new TypeError(`defineHandler: name must be a string matching ${HANDLER_NAME_PATTERN} (got ${describe(name)})`);
  }
  if (!isZodSchema(input)) {
    throw new TypeError(`defineHandler("${name}"): input must be a zod schema (got ${describe(input)})`);
  }
  if (typeof run !== 'function') {
    throw new TypeError(`defineHandler("${name}"): run must be a function (got ${describe(run)})`);
  }
  if (estimate !== undefined && typeof estimate !== 'function') {
    throw new TypeError(`defineHandler("${name}"): estimate must be a function when given (got ${describe(estimate)})`);
  }
}

function isZodSchema(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { safeParse?: unknown; parse?: unknown };
  return typeof candidate.safeParse === 'function' && typeof candidate.parse === 'function';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
