import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { toFailure } from '../../src/errors.ts';
import { defineHandler, isHandlerDefinition } from '../../src/handlers/define.ts';
import { createHandlerRegistry, loadHandlerModule } from '../../src/handlers/registry.ts';

const BUILTINS = ['noop', 'echo', 'sleep', 'http', 'llm', 'assert', 'fault'];
const defineUrl = pathToFileURL(resolve('src/handlers/define.ts')).href;

describe('defineHandler', () => {
  it('returns the definition branded, with the input type inferred from the schema', () => {
    const h = defineHandler({ name: 'add.one_2-x', input: z.object({ n: z.number() }), run: (input) => input.n + 1 });
    expectTypeOf(h.run).parameter(0).toEqualTypeOf<{ n: number }>();
    expect(isHandlerDefinition(h)).toBe(true);
    expect(h.name).toBe('add.one_2-x');
    expect(Object.isFrozen(h)).toBe(true);
  });

  it('recognises handlers branded by another copy of the package', () => {
    const foreign = { name: 'x', input: z.unknown(), run: () => null, [Symbol.for('scenario-queue.HandlerDefinition')]: true };
    expect(isHandlerDefinition(foreign)).toBe(true);
    expect(isHandlerDefinition({ name: 'x', input: z.unknown(), run: () => null })).toBe(false);
    expect(isHandlerDefinition(null)).toBe(false);
  });

  const invalid: Array<[unknown, string]> = [
    [{ name: 'has space', input: z.unknown(), run: () => null }, 'defineHandler: name must be a string matching /^[a-zA-Z0-9_.-]+$/ (got "has space")'],
    [{ name: '', input: z.unknown(), run: () => null }, 'defineHandler: name must be a string matching /^[a-zA-Z0-9_.-]+$/ (got "")'],
    [{ name: 'x', input: { type: 'object' }, run: () => null }, 'defineHandler("x"): input must be a zod schema (got object)'],
    [{ name: 'x', run: () => null }, 'defineHandler("x"): input must be a zod schema (got undefined)'],
    [{ name: 'x', input: z.unknown(), run: 'go' }, 'defineHandler("x"): run must be a function (got "go")'],
    [{ name: 'x', input: z.unknown(), run: () => null, estimate: 5 }, 'defineHandler("x"): estimate must be a function when given (got number)'],
  ];
  it.each(invalid)('rejects an invalid definition, naming the field (%#)', (def, message) => {
    expect(() => defineHandler(def as never)).toThrow(message);
  });
});

describe('createHandlerRegistry', () => {
  const custom = defineHandler({ name: 'greet', input: z.object({ who: z.string() }), run: ({ who }) => `hi ${who}` });

  it('holds the built-ins, then custom handlers', () => {
    const registry = createHandlerRegistry([custom]);
    expect(registry.names()).toEqual([...BUILTINS, 'greet']);
    expect(registry.has('greet')).toBe(true);
    expect(registry.get('greet')).toBe(custom);
    expect(registry.get('http').name).toBe('http');
  });

  it('fails with invalid_input naming the known handlers for an unknown name', () => {
    expect(() => createHandlerRegistry().get('nope')).toThrow(`unknown handler "nope" (known: ${BUILTINS.join(', ')})`);
    try {
      createHandlerRegistry().get('nope');
    } catch (e) {
      expect(toFailure(e)).toMatchObject({ kind: 'invalid_input', retryable: false });
    }
  });

  it('refuses a custom handler that shadows a built-in, naming it', () => {
    const shadow = defineHandler({ name: 'http', input: z.unknown(), run: () => null });
    expect(() => createHandlerRegistry([shadow])).toThrow('custom handler "http" shadows the built-in handler of that name');
  });

  it('refuses two custom handlers with the same name', () => {
    expect(() => createHandlerRegistry([custom, { ...custom }])).toThrow('custom handler "greet" is registered twice');
  });
});

describe('loadHandlerModule', () => {
  let dir: string;
  let n = 0;

  /** Writes a TypeScript module into the temp dir and returns its path relative to cwd. */
  async function writeModule(source: string): Promise<string> {
    const file = join(dir, `handlers-${++n}.ts`);
    await writeFile(file, source);
    return relative(process.cwd(), file);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sq-handlers-'));
    // The module imports zod like a real handler package would; resolve it to our copy.
    await symlink(resolve('node_modules'), join(dir, 'node_modules'), 'dir');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a TypeScript module with a default array and named handler exports', async () => {
    const path = await writeModule(`
      import { z } from 'zod';
      import { defineHandler } from '${defineUrl}';
      interface Sum { total: number }
      export const sum = defineHandler({
        name: 'sum',
        input: z.object({ values: z.array(z.number()) }),
        run: ({ values }): Sum => ({ total: values.reduce((a, b) => a + b, 0) }),
      });
      const upper = defineHandler({ name: 'upper', input: z.string(), run: (s) => s.toUpperCase() });
      export const helper = (x: number): number => x * 2;
      export default [upper];
    `);
    expect(path.startsWith('.')).toBe(true);
    const handlers = await loadHandlerModule(path);
    expect(handlers.map((h) => h.name).sort()).toEqual(['sum', 'upper']);
    const registry = createHandlerRegistry(handlers);
    const sum = registry.get('sum');
    expect(await sum.run(sum.input.parse({ values: [1, 2, 3] }), undefined as never)).toEqual({ total: 6 });
  });

  it('loads a single default export by absolute path', async () => {
    const path = await writeModule(`
      import { z } from 'zod';
      import { defineHandler } from '${defineUrl}';
      export default defineHandler({ name: 'single', input: z.unknown(), run: () => 'ok' });
    `);
    expect((await loadHandlerModule(resolve(path))).map((h) => h.name)).toEqual(['single']);
  });

  it('names the file and the export when a handler-like export is invalid', async () => {
    const path = await writeModule(`export const broken = { name: 'broken', run: () => null };`);
    await expect(loadHandlerModule(path)).rejects.toThrow(
      `${resolve(path)} export "broken" is not a handler: defineHandler("broken"): input must be a zod schema (got undefined)`,
    );
  });

  it('names the file and the position when the default array holds a non-handler', async () => {
    const path = await writeModule(`export default [42];`);
    await expect(loadHandlerModule(path)).rejects.toThrow(`${resolve(path)} default export[0] is not a handler`);
  });

  it('fails when the module exports no handlers', async () => {
    const path = await writeModule(`export const answer = 42;`);
    await expect(loadHandlerModule(path)).rejects.toThrow(`handler module ${resolve(path)} exports no handlers (exports: answer)`);
  });

  it('fails naming the resolved path when the file does not exist', async () => {
    await expect(loadHandlerModule('./no/such/handlers.ts')).rejects.toThrow(
      `handler module not found: ${resolve('no/such/handlers.ts')} (from "./no/such/handlers.ts", cwd ${process.cwd()})`,
    );
  });

  it('wraps import errors with the file name', async () => {
    const path = await writeModule(`throw new Error('boom at import');`);
    await expect(loadHandlerModule(path)).rejects.toThrow(`cannot load handler module ${resolve(path)}: boom at import`);
  });
});
