/**
 * The handler registry a worker resolves `uses:` against: built-ins plus the custom
 * handlers loaded from `--handlers` / `SQ_HANDLERS` (SPEC §4).
 */
import { DeterministicError } from '../errors.ts';
import { BUILTIN_HANDLERS } from './builtin/index.ts';
import type { HandlerDefinition } from './types.ts';

export interface HandlerRegistry {
  /** The handler named `name`; throws `invalid_input` naming the known handlers when absent. */
  get(name: string): HandlerDefinition;
  has(name: string): boolean;
  /** Built-ins first, then custom handlers, in registration order. */
  names(): string[];
}

/** Builds a registry of the built-ins plus `extra`; a name registered twice is an error. */
export function createHandlerRegistry(extra: readonly HandlerDefinition[] = []): HandlerRegistry {
  const byName = new Map<string, HandlerDefinition>();
  for (const handler of BUILTIN_HANDLERS) byName.set(handler.name, handler);
  const builtinNames = new Set(byName.keys());
  for (const handler of extra) {
    if (builtinNames.has(handler.name)) {
      throw new Error(`custom handler "${handler.name}" shadows the built-in handler of that name; rename it`);
    }
    if (byName.has(handler.name)) {
      throw new Error(`custom handler "${handler.name}" is registered twice; handler names must be unique`);
    }
    byName.set(handler.name, handler);
  }
  return {
    get(name) {
      const handler = byName.get(name);
      if (!handler) {
        throw new DeterministicError(`unknown handler "${name}" (known: ${[...byName.keys()].join(', ')})`, {
          kind: 'invalid_input',
        });
      }
      return handler;
    },
    has: (name) => byName.has(name),
    names: () => [...byName.keys()],
  };
}

// Loading lives in its own module; re-exported so callers find both halves of the registry here.
export { loadHandlerModule } from './load.ts';
