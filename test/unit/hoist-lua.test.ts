import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import luaparse from 'luaparse';
import { describe, expect, it } from 'vitest';
import { hoistedScriptFunction, hoistFunctions } from '../../src/worker/hoist-lua.ts';
import { VERIFIED_ADD_STANDARD_JOB, VERIFIED_MOVE_TO_ACTIVE, VERIFIED_MOVE_TO_FINISHED } from '../../src/worker/fused-completion.ts';

const require = createRequire(import.meta.url);
const bullScripts = join(dirname(require.resolve('bullmq')), 'scripts');
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** The installed BullMQ's script text, as its connection registers it. */
function bullScript(file: string, name: string): string {
  return (require(join(bullScripts, file)) as Record<string, { content: string }>)[name].content;
}

/** What Lua and Redis give every script and function (globals a definition may use). */
const RUNTIME_GLOBALS = new Set(['redis', 'cjson', 'cmsgpack', 'bit', 'struct', 'string', 'table', 'math', 'tonumber', 'tostring', 'type', 'pairs', 'ipairs', 'unpack', 'next', 'select', 'error', 'pcall', 'assert']);

type Node = { type: string; isLocal?: boolean; init?: Node[]; identifier?: { name: string }; variables?: { name: string }[] };

function parse(lua: string) {
  return luaparse.parse(lua, { scope: true, luaVersion: '5.1' }) as unknown as { body: Node[]; globals: { name: string }[] };
}

const globalsOf = (lua: string) => new Set(parse(lua).globals.map((g) => g.name));

/** Names of a chunk's top-level `local function f` and `local f = function` definitions. */
function topLevelFunctions(lua: string): string[] {
  return parse(lua).body.flatMap((s) => {
    if (s.type === 'FunctionDeclaration' && s.isLocal && s.identifier) return [s.identifier.name];
    if (s.type === 'LocalStatement' && s.init?.length === 1 && s.init[0].type === 'FunctionDeclaration') return (s.variables ?? []).map((v) => v.name);
    return [];
  });
}

const SCRIPTS = [
  { name: 'moveToFinished', lua: bullScript('moveToFinished-14.js', 'moveToFinished'), verified: VERIFIED_MOVE_TO_FINISHED },
  { name: 'moveToActive', lua: bullScript('moveToActive-11.js', 'moveToActive'), verified: VERIFIED_MOVE_TO_ACTIVE },
  { name: 'addStandardJob', lua: bullScript('addStandardJob-9.js', 'addStandardJob'), verified: VERIFIED_ADD_STANDARD_JOB },
];

describe("hoisting BullMQ's definitions out of the call (src/worker/hoist-lua.ts)", () => {
  for (const { name, lua, verified } of SCRIPTS) {
    it(`${name}: the text is one the composition was verified against`, () => {
      expect(verified.has(sha1(lua))).toBe(true);
    });

    it(`${name}: every top-level definition moves, and nothing else`, () => {
      const hoisted = hoistFunctions(lua);
      expect(hoisted.names).toEqual(['rcall', ...topLevelFunctions(lua)]);
      expect(topLevelFunctions(hoisted.body)).toEqual([]);
      // Every line once, but `local rcall = redis.call`: declared with the definitions, set by the call.
      expect(hoisted.functions.split('\n').length + hoisted.body.split('\n').length).toBe(lua.split('\n').length + 1);
      expect(hoisted.body).toMatch(/^rcall = redis\.call$/m);
    });

    it(`${name}: the definitions use nothing of a call's, only globals of the runtime, rcall and one another`, () => {
      // Parsed alone, a definition's reference to KEYS, ARGV or a local of the script's own
      // code would be a global: made once at load, it would not see the call's.
      const used = [...globalsOf(hoistFunctions(lua).functions)];
      expect(used.filter((g) => !RUNTIME_GLOBALS.has(g))).toEqual([]);
    });

    it(`${name}: as a hoisted function it reads the same globals as the script (less KEYS and ARGV, now its parameters)`, () => {
      const original = [...globalsOf(lua)].filter((g) => g !== 'KEYS' && g !== 'ARGV').sort();
      expect([...globalsOf(hoistedScriptFunction('f', lua))].sort()).toEqual(original);
    });
  }

  it('a definition that does not end at column 0 is an error, not a silent cut', () => {
    expect(() => hoistFunctions('local function f()\n  return 1\n  end')).toThrow(/line 1 has no "end" at column 0/);
  });
});
