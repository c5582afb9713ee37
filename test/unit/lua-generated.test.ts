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
});
