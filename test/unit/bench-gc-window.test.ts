/**
 * bench/tools/gc-window.mjs reads a benchmark's stderr: the `--trace-gc-nvp` lines of its worker
 * children and the marks BENCH_GC_MARKS=1 makes them write at each timed window's start and end.
 * The lines here are in the formats of Node 20's V8 and of bench/worker-process.ts, cut short.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOOL = fileURLToPath(new URL('../../bench/tools/gc-window.mjs', import.meta.url));
const run = promisify(execFile);

const scavenge = (pid: number, ms: number, pause: number, allocated: number, promoted: number) =>
  `[${pid}:0x1bb7dd90]      ${ms} ms: pause=${pause} mutator=20.0 gc=s reduce_memory=0 scavenge=1.2 allocated=${allocated} promoted=${promoted} new_space_survived=${promoted}`;
const markCompact = (pid: number, ms: number) => `[${pid}:0x1bb7dd90]      ${ms} ms: pause=4.0 mutator=50.0 gc=mc reduce_memory=0 allocated=1000 promoted=0`;
const mark = (pid: number, side: string, ms: number, done: number, old: number) => `[bench gc-mark] pid=${pid} side=${side} ms=${ms} done=${done} old=${old}`;

const LOG = [
  '[bench] throughput: start',
  // raw: 1000 jobs between 100 and 200 ms; a scavenge before the window is not counted.
  scavenge(11, 90, 9.9, 9_999_999, 9_999_999),
  mark(11, 'raw', 100, 0, 5_000_000),
  scavenge(11, 150, 2, 20_000_000, 400_000),
  mark(11, 'raw', 200, 1000, 5_600_000),
  // sq: 10 runs (1000 steps at 100 a run), a mark-compact inside: no old-space growth read.
  mark(12, 'sq', 100, 0, 5_000_000),
  scavenge(12, 120, 3, 15_000_000, 700_000),
  scavenge(12, 140, 5, 15_000_000, 900_000),
  markCompact(12, 160),
  mark(12, 'sq', 180, 10, 4_000_000),
  // A stats request with nothing done since (the memory item's): not a window.
  mark(12, 'sq', 190, 10, 4_000_000),
].join('\n');

describe('bench/tools/gc-window.mjs', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sq-gc-window-'));
    await writeFile(join(dir, 'gc.log'), `${LOG}\n`);
    await writeFile(join(dir, 'empty.log'), '[bench] throughput: start\n');
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives each window its scavenges per step, and old-space growth when no full GC ran', async () => {
    const { stdout } = await run(process.execPath, [TOOL, join(dir, 'gc.log')]);
    const rows = stdout.trim().split('\n').slice(2);
    expect(rows).toHaveLength(2);
    // 2 ms over 1000 jobs; 20 MB and 400 kB over 1000; old space +600 kB of which 400 kB promoted.
    expect(rows[0]).toBe('| raw | 11 | 1000 | 1 | 0 | 2.00 | 20000 | 400 | 600 | 200 |');
    // 8 ms over 1000 steps; the growth is not read across the mark-compact.
    expect(rows[1]).toBe('| sq | 12 | 1000 | 2 | 1 | 8.00 | 30000 | 1600 | — | — |');
  });

  it('counts a scenario-queue run as --steps-per-run steps', async () => {
    const { stdout } = await run(process.execPath, [TOOL, join(dir, 'gc.log'), '--steps-per-run', '10']);
    expect(stdout).toContain('| sq | 12 | 100 | 2 | 1 | 80.00 | 300000 | 16000 | — | — |');
  });

  it('names what is missing with exit code 2', async () => {
    await expect(run(process.execPath, [TOOL, join(dir, 'nothing.log')])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('not found') });
    await expect(run(process.execPath, [TOOL, join(dir, 'empty.log')])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('BENCH_GC_MARKS=1') });
    await expect(run(process.execPath, [TOOL, join(dir, 'gc.log'), '--steps-per-run', 'many'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('usage') });
  });
});
