// Reads the timelines bench/timeline/record.mjs wrote and prints, per worker child, one JSON line:
// how long its commands were at Redis (time-weighted share of each count of commands written and
// not yet answered, over the middle 80 % of its writes), how many replies each read brought, and
// how soon after a read of k replies its next k commands went out (medians, ms).
//
//   node bench/timeline/report.mjs <BENCH_TIMELINE_DIR>
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/timeline/report.mjs <directory bench/timeline/record.mjs wrote to>\n');
  process.exit(2);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  return (sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2;
};
const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;

function report(side, events) {
  // The socket with the most traffic: the worker's command connection.
  const bySocket = new Map();
  for (const e of events) {
    if (!bySocket.has(e[3])) bySocket.set(e[3], []);
    bySocket.get(e[3]).push(e);
  }
  const main = [...bySocket.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const writes = main.filter((e) => e[1] === 1);
  if (writes.length < 10) return { side, writes: writes.length };
  const from = writes[Math.floor(writes.length * 0.1)][0];
  const to = writes[Math.floor(writes.length * 0.9)][0];

  const atRedis = new Map();
  const repliesPerRead = new Map();
  let inFlight = 0;
  let last;
  for (const [at, kind, count] of main) {
    if (last !== undefined && at > from && at <= to) atRedis.set(inFlight, (atRedis.get(inFlight) ?? 0) + (at - Math.max(last, from)));
    last = at;
    if (kind === 1) inFlight++;
    else {
      inFlight -= count;
      if (at > from && at <= to) repliesPerRead.set(count, (repliesPerRead.get(count) ?? 0) + 1);
    }
  }
  const window = to - from;
  const commandsAtRedis = Object.fromEntries([...atRedis].sort((a, b) => a[0] - b[0]).map(([k, ms]) => [k, round(ms / window, 3)]));

  // After a read of k replies with no other read before the k commands that follow it.
  const offsets = new Map();
  for (let i = 0; i < main.length; i++) {
    const [at, kind, k] = main[i];
    if (kind !== 2 || k < 1 || at <= from || at > to) continue;
    const next = [];
    for (let j = i + 1; j < main.length && next.length < k && main[j][1] === 1; j++) next.push(main[j][0] - at);
    if (next.length !== k) continue;
    if (!offsets.has(k)) offsets.set(k, []);
    offsets.get(k).push(next);
  }
  const writesAfterRead = Object.fromEntries(
    [...offsets]
      .sort((a, b) => a[0] - b[0])
      .map(([k, rows]) => [k, { reads: rows.length, ms: Array.from({ length: k }, (_, i) => round(median(rows.map((r) => r[i])), 3)) }]),
  );
  return {
    side,
    writes: writes.length,
    commandsPerMs: round((writes.length * 0.8) / window, 3),
    commandsAtRedis,
    repliesPerRead: Object.fromEntries([...repliesPerRead].sort((a, b) => a[0] - b[0])),
    writesAfterRead,
  };
}

const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
if (files.length === 0) {
  process.stderr.write(`no timelines in ${dir}: run the bench with bench/timeline/record.mjs preloaded (see its header)\n`);
  process.exit(2);
}
for (const file of files) {
  const { side, events } = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  console.log(JSON.stringify({ file, ...report(side, events) }));
}
