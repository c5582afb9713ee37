import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { luaScripts } from '../../src/redis/lua-scripts.generated.ts';

describe('generated Lua scripts', () => {
  it('match src/redis/lua/*.lua (run npm run build:lua after editing Lua)', () => {
    expect(() => execFileSync(process.execPath, ['scripts/build-lua.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('inline every include, so nothing reads .lua files at run time', () => {
    for (const [name, script] of Object.entries(luaScripts)) {
      expect(script.lua, name).not.toMatch(/--- @include/);
      expect(script.numberOfKeys, name).toBeGreaterThan(0);
    }
  });

  it('the scripts the fused completion holds as functions need only run-state (its library has that once)', () => {
    // src/worker/fused-completion.ts puts luaIncludes['run-state'] and these bodies in one library.
    for (const name of ['finishAttempt', 'startAttempt'] as const) {
      expect(luaScripts[name].includes.every((i) => i === 'run-state' || i === 'run-core'), name).toBe(true);
      expect(luaScripts[name].body, name).toMatch(/^begin(Run)?\(KEYS, ARGV\)$/m);
    }
  });

  it("the guard's library holds each of its includes once (src/guardrails/guard-functions.ts)", () => {
    // It puts admitAttempt's includes, run-core and the bodies of admitAttempt, settleAttempt and startAttempt in one library.
    expect(luaScripts.settleAttempt.includes).toEqual(luaScripts.admitAttempt.includes);
    expect(luaScripts.startAttempt.includes).toEqual(['run-core']);
    const lua = luaScripts.admitAttempt.includesLua;
    for (const local of ['local GUARD_EVENTS', 'local function guardEmit', 'local function breakerOf', 'local function limitsOf']) {
      expect(lua.split(local).length - 1, local).toBe(1);
    }
    expect(lua).not.toContain('local function begin(');
  });
});
