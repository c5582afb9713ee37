#!/usr/bin/env node
/**
 * The young generation's work in each timed window of a benchmark's worker children: reads their
 * `--trace-gc-nvp` lines and the marks BENCH_GC_MARKS=1 makes them write at each window's start
 * and end (bench/worker-process.ts), from one file of the benchmark's stderr, and prints per
 * window: scavenges, their pause per step, bytes allocated and promoted per step, and the old
 * space's growth per step beside what was promoted into it (the rest was allocated there
 * directly; read only when no mark-compact ran in the window, which frees old space).
 *
 *   BENCH_GC_MARKS=1 BENCH_CHILD_NODE_ARGS=--trace-gc-nvp npm run -s bench -- --only throughput 2> gc.log
 *   node bench/tools/gc-window.mjs gc.log [--steps-per-run N]
 *
 * A scenario-queue child counts runs done, not steps: --steps-per-run (the benchmark's, 100 by
 * default) turns them into steps. The two clocks (V8's since the isolate started, the child's
 * performance.now()) agree to within a millisecond or so, not exactly.
 */
import { existsSync, readFileSync } from 'node:fs';

const USAGE = 'usage: node bench/tools/gc-window.mjs <stderr-file> [--steps-per-run N]\n';
const [file, ...rest] = process.argv.slice(2);
const at = rest.indexOf('--steps-per-run');
const stepsPerRun = at >= 0 ? Number(rest[at + 1]) : 100;
if (!file || !Number.isInteger(stepsPerRun) || stepsPerRun <= 0) {
  process.stderr.write(USAGE);
  process.exit(2);
}
if (!existsSync(file)) {
  process.stderr.write(`gc-window: ${file} not found\n${USAGE}`);
  process.exit(2);
}

const MARK = /^\[bench gc-mark\] pid=(\d+) side=(\w+) ms=([\d.]+) done=(\d+) old=(\d+)/;
const TRACE = /^\[(\d+):0x[0-9a-f]+\]\s+([\d.]+) ms: (pause=.*)$/;

/** pid -> { side, marks: [{ms, done, old}], gcs: [{ms, kind, pause, allocated, promoted}] } */
const children = new Map();
const childOf = (pid) => children.get(pid) ?? children.set(pid, { side: '?', marks: [], gcs: [] }).get(pid);
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const mark = MARK.exec(line);
  if (mark) {
    const child = childOf(mark[1]);
    child.side = mark[2];
    child.marks.push({ ms: Number(mark[3]), done: Number(mark[4]), old: Number(mark[5]) });
    continue;
  }
  const trace = TRACE.exec(line);
  if (!trace) continue;
  const fields = Object.fromEntries(trace[3].split(' ').map((pair) => pair.split('=')));
  childOf(trace[1]).gcs.push({ ms: Number(trace[2]), kind: fields.gc, pause: Number(fields.pause), allocated: Number(fields.allocated ?? 0), promoted: Number(fields.promoted ?? 0) });
}

const rows = [];
for (const [pid, child] of children) {
  for (let i = 1; i < child.marks.length; i++) {
    const start = child.marks[i - 1];
    const end = child.marks[i];
    if (end.done <= start.done) continue;
    const steps = (end.done - start.done) * (child.side === 'sq' ? stepsPerRun : 1);
    const inside = child.gcs.filter((gc) => gc.ms >= start.ms && gc.ms <= end.ms);
    const scavenges = inside.filter((gc) => gc.kind === 's');
    const sum = (key) => scavenges.reduce((total, gc) => total + gc[key], 0);
    const full = inside.length - scavenges.length;
    const promoted = sum('promoted');
    rows.push({
      side: child.side,
      pid,
      steps,
      scavenges: scavenges.length,
      full,
      pauseUs: (sum('pause') * 1000) / steps,
      allocated: sum('allocated') / steps,
      promoted: promoted / steps,
      oldGrowth: full === 0 ? (end.old - start.old) / steps : undefined,
      direct: full === 0 ? (end.old - start.old - promoted) / steps : undefined,
    });
  }
}
if (rows.length === 0) {
  process.stderr.write(`gc-window: no timed window in ${file}: run the benchmark with BENCH_GC_MARKS=1 and --trace-gc-nvp in BENCH_CHILD_NODE_ARGS\n`);
  process.exit(2);
}
if (!rows.some((row) => row.scavenges > 0)) process.stderr.write('gc-window: no --trace-gc-nvp lines inside the windows: was BENCH_CHILD_NODE_ARGS=--trace-gc-nvp set?\n');

const bytes = (n) => (n === undefined ? '—' : n.toFixed(0));
process.stdout.write('| side | pid | steps | scavenges | full GCs | scavenge pause µs/step | allocated B/step | promoted B/step | old space growth B/step | allocated old B/step |\n');
process.stdout.write('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n');
for (const r of rows) {
  process.stdout.write(`| ${r.side} | ${r.pid} | ${r.steps} | ${r.scavenges} | ${r.full} | ${r.pauseUs.toFixed(2)} | ${bytes(r.allocated)} | ${bytes(r.promoted)} | ${bytes(r.oldGrowth)} | ${bytes(r.direct)} |\n`);
}
