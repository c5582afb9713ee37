/** Loading custom handler modules (`--handlers ./handlers/index.ts`, `SQ_HANDLERS`). */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineHandler, isHandlerDefinition } from './define.ts';
import type { HandlerDefinition } from './types.ts';

/**
 * Imports a handler module and returns its handlers: a default export that is a handler
 * or an array of handlers, and/or named exports that are handlers. Paths resolve against
 * `process.cwd()`; TypeScript modules load because workers run under tsx.
 */
export async function loadHandlerModule(specifier: string): Promise<HandlerDefinition[]> {
  const target = resolveSpecifier(specifier);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(/* @vite-ignore */ target.url)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`cannot load handler module ${target.display}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }

  const handlers: HandlerDefinition[] = [];
  for (const [exportName, value] of Object.entries(mod)) {
    if (exportName === 'default') {
      handlers.push(...defaultExportHandlers(value, target.display));
    } else if (isHandlerDefinition(value)) {
      handlers.push(value);
    } else if (looksLikeHandler(value)) {
      // An object literal written without defineHandler: validate it rather than ignore it silently.
      handlers.push(validated(value, `${target.display} export "${exportName}"`));
    }
  }
  if (handlers.length === 0) {
    throw new Error(`handler module ${target.display} exports no handlers (exports: ${Object.keys(mod).join(', ') || 'none'}); export defineHandler(...) results`);
  }
  return [...new Set(handlers)];
}

function defaultExportHandlers(value: unknown, display: string): HandlerDefinition[] {
  const where = `${display} default export`;
  if (Array.isArray(value)) return value.map((item, i) => validated(item, `${where}[${i}]`));
  return [validated(value, where)];
}

function validated(value: unknown, where: string): HandlerDefinition {
  if (isHandlerDefinition(value)) return value;
  try {
    return defineHandler(value as HandlerDefinition);
  } catch (e) {
    throw new Error(`${where} is not a handler: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function looksLikeHandler(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'name' in value && 'run' in value;
}

/** Paths become file URLs against cwd; anything else is a package specifier, imported as is. */
function resolveSpecifier(specifier: string): { url: string; display: string } {
  const isPath = specifier.startsWith('.') || isAbsolute(specifier) || /\.[cm]?[jt]s$/.test(specifier);
  if (!isPath) return { url: specifier, display: `"${specifier}"` };
  const file = resolve(process.cwd(), specifier);
  if (!existsSync(file)) throw new Error(`handler module not found: ${file} (from "${specifier}", cwd ${process.cwd()})`);
  return { url: pathToFileURL(file).href, display: file };
}
