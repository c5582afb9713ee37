#!/usr/bin/env node
/**
 * Where Redis's Lua interpreter spends a step, by line: reads the counts a redis-server built with
 * bench/tools/redis-lua-lines.patch wrote (SQ_LUA_PROFILE=<dir>: <dir>/counts.tsv, Lua VM
 * instructions by function called and line, and <dir>/<library>.lua, each Redis Function
 * library's text as loaded) and prints, per function called (a library's function, or a script's
 * SHA), its VM instructions per call and per step, the functions of the library they ran in, and
 * its costliest lines. docs/performance.md (Rerun it) says how to build the server and run it.
 *
 *   node bench/tools/lua-lines.mjs <dir> <steps> [--top N]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, stepsText, ...rest] = process.argv.slice(2);
const steps = Number(stepsText);
const topAt = rest.indexOf('--top');
const top = topAt >= 0 ? Number(rest[topAt + 1]) : 25;
if (!dir || !Number.isFinite(steps) || steps <= 0 || !Number.isInteger(top) || top <= 0) {
  process.stderr.write('usage: node bench/tools/lua-lines.mjs <dir> <steps> [--top N]\n');
  process.exit(2);
}
const countsFile = join(dir, 'counts.tsv');
if (!existsSync(countsFile)) {
  process.stderr.write(`lua-lines: ${countsFile} not found: run the patched redis-server with SQ_LUA_PROFILE=${dir}\n`);
  process.exit(2);
}

/** name -> {calls, lines: Map<line, count>} */
const byName = new Map();
for (const row of readFileSync(countsFile, 'utf8').split('\n')) {
  const [name, line, count] = row.split('\t');
  if (!count) continue;
  const entry = byName.get(name) ?? { calls: 0, lines: new Map() };
  byName.set(name, entry);
  if (line === 'calls') entry.calls = Number(count);
  else entry.lines.set(Number(line), Number(count));
}

/** The function a line is in: the nearest definition above it (nested ones count as their own). */
function enclosing(text) {
  const names = [];
  let current = '(chunk)';
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(?:local\s+)?function\s+([\w.:]+)|^\s*(?:local\s+)?([\w.]+)\s*=\s*function\b/.exec(line);
    if (m) current = m[1] ?? m[2];
    names[i + 1] = current;
  });
  return names;
}

const perStep = (n) => (n / steps).toFixed(1).padStart(8);
const sorted = [...byName].map(([name, e]) => ({ name, ...e, total: [...e.lines.values()].reduce((a, b) => a + b, 0) })).sort((a, b) => b.total - a.total);
for (const { name, calls, lines, total } of sorted) {
  process.stdout.write(`\n${name}: ${calls} calls, ${(total / Math.max(calls, 1)).toFixed(0)} VM instructions a call, ${(total / steps).toFixed(0)} a step\n`);
  const source = join(dir, `${name}.lua`);
  if (!existsSync(source)) continue;
  const text = readFileSync(source, 'utf8');
  const textLines = text.split('\n');
  const fn = enclosing(text);
  const byFn = new Map();
  for (const [line, count] of lines) byFn.set(fn[line] ?? '?', (byFn.get(fn[line] ?? '?') ?? 0) + count);
  process.stdout.write('  per step, by function:\n');
  for (const [f, count] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${perStep(count)}  ${f}\n`);
  process.stdout.write('  per step, by line:\n');
  for (const [line, count] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${perStep(count)}  ${String(line).padStart(5)}  ${(textLines[line - 1] ?? '').trim().slice(0, 110)}\n`);
  }
}
