/**
 * bench/tools/lua-lines.mjs reads what a redis-server built with bench/tools/redis-lua-lines.patch
 * writes (counts by function called and line, and each library's text) and attributes the counts
 * to the library's functions and lines. The server needs a Redis source build, so the counts here
 * are written by hand in its format.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOOL = fileURLToPath(new URL('../../bench/tools/lua-lines.mjs', import.meta.url));
const run = promisify(execFile);

const LIBRARY = [
  '#!lua name=sq_lib',
  'local function helper(x)',
  '  return x .. "!"',
  'end',
  'local main = function(_, ARGV)',
  '  local a = helper(ARGV[1])',
  '  return a',
  'end',
  "redis.register_function('sq_lib', main)",
].join('\n');

describe('bench/tools/lua-lines.mjs', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sq-lua-lines-'));
    await writeFile(join(dir, 'sq_lib.lua'), LIBRARY);
    // 10 calls of the library's function: helper's lines 3, main's 6 and 7; a script by SHA too.
    const counts = ['sq_lib\tcalls\t10', 'sq_lib\t3\t40', 'sq_lib\t6\t60', 'sq_lib\t7\t20', 'abc123\tcalls\t5', 'abc123\t1\t50'];
    await writeFile(join(dir, 'counts.tsv'), `${counts.join('\n')}\n`);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives VM instructions per call and per step, by function and by line', async () => {
    const { stdout } = await run(process.execPath, [TOOL, dir, '20']);
    expect(stdout).toContain('sq_lib: 10 calls, 12 VM instructions a call, 6 a step');
    // main's lines 6 and 7: 80 over 20 steps; helper's line 3: 40.
    expect(stdout).toMatch(/ {5}4\.0 {2}main\n {5}2\.0 {2}helper\n/);
    expect(stdout).toMatch(/ {5}3\.0 {6}6 {2}local a = helper\(ARGV\[1\]\)\n/);
    // A script has no library text: its totals only.
    expect(stdout).toContain('abc123: 5 calls, 10 VM instructions a call, 3 a step');
  });

  it('names what is missing with exit code 2', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'sq-lua-lines-empty-'));
    try {
      await expect(run(process.execPath, [TOOL, empty, '20'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('counts.tsv not found') });
      await expect(run(process.execPath, [TOOL, dir, 'many'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('usage') });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
