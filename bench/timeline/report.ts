/**
 * Reads the timelines bench/timeline/record.mjs wrote and prints, per worker child, one JSON
 * line about its busiest socket (the worker's command connection), over the middle 80 % of its
 * writes:
 *
 * - `commandsAtRedis`: the share of the time that each count of commands was written and not
 *   yet answered (8 of 8 at concurrency 8: the worker waits on Redis);
 * - `repliesPerRead`: how many reads brought each count of replies;
 * - `writesAfterRead`: after a read of k replies, the median time (ms) to the 1st, 2nd, …, k-th
 *   write that followed it, each over the reads that had that many writes before the next read
 *   (`reads`: how many that was for each position).
 *
 *   npm run -s bench:timeline -- <BENCH_TIMELINE_DIR>
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { median, round } from '../stats.ts';

/** [performance.now() ms, 1 write | 2 read, commands written | replies read, socket]. */
type Stamp = [number, 1 | 2, number, number];
interface Timeline {
  side: string;
  tree?: string;
  dropped?: number;
  events: Stamp[];
}

function fail(message: string): never {
  process.stderr.write(`${message}\nusage: npm run -s bench:timeline -- <directory bench/timeline/record.mjs wrote to>\n`);
  process.exit(2);
}

function readTimeline(file: string): Timeline {
  let doc: Partial<Timeline>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<Timeline>;
  } catch (e) {
    fail(`${file}: not a timeline of bench/timeline/record.mjs (${(e as Error).message})`);
  }
  if (typeof doc?.side !== 'string' || !Array.isArray(doc.events)) fail(`${file}: not a timeline of bench/timeline/record.mjs (no "side" and "events")`);
  return doc as Timeline;
}

function report(timeline: Timeline) {
  const bySocket = new Map<number, Stamp[]>();
  for (const e of timeline.events) {
    if (!bySocket.has(e[3])) bySocket.set(e[3], []);
    (bySocket.get(e[3]) as Stamp[]).push(e);
  }
  const main = [...bySocket.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const writes = main.filter((e) => e[1] === 1);
  const base = { side: timeline.side, tree: timeline.tree, dropped: timeline.dropped ?? 0, writes: writes.length };
  const lo = Math.floor(writes.length * 0.1);
  const hi = Math.floor(writes.length * 0.9);
  const from = writes[lo]?.[0];
  const to = writes[hi]?.[0];
  if (from === undefined || to === undefined || to <= from) return { ...base, note: 'too few writes for a window' };
  const window = to - from;

  const atRedis = new Map<number, number>();
  const repliesPerRead = new Map<number, number>();
  let inFlight = 0;
  let below = 0;
  let last: number | undefined;
  let commands = 0;
  for (const [at, kind, count] of main) {
    if (last !== undefined && at > from && at <= to) atRedis.set(inFlight, (atRedis.get(inFlight) ?? 0) + (at - Math.max(last, from)));
    last = at;
    if (kind === 1) {
      inFlight += count;
      if (at > from && at <= to) commands += count;
    } else {
      inFlight -= count;
      if (inFlight < 0) below++;
      if (at > from && at <= to) repliesPerRead.set(count, (repliesPerRead.get(count) ?? 0) + 1);
    }
  }

  // Position i of a read of k replies: the i-th write after it, if no read came before it.
  const offsets = new Map<number, number[][]>();
  for (let r = 0; r < main.length; r++) {
    const [at, kind, k] = main[r];
    if (kind !== 2 || k < 1 || at <= from || at > to) continue;
    if (!offsets.has(k)) offsets.set(k, Array.from({ length: k }, () => []));
    const byPosition = offsets.get(k) as number[][];
    for (let i = 0, w = r + 1; i < k && w < main.length && main[w][1] === 1; i++, w++) byPosition[i].push(main[w][0] - at);
  }
  const sorted = <T>(map: Map<number, T>) => [...map].sort((a, b) => a[0] - b[0]);
  return {
    ...base,
    windowMs: round(window, 1),
    windowCommands: commands,
    commandsPerMs: round(commands / window, 3),
    // Replies read before their commands were seen written: the shares above are off.
    ...(below > 0 ? { repliesBeforeTheirCommands: below } : {}),
    commandsAtRedis: Object.fromEntries(sorted(atRedis).map(([k, ms]) => [k, round(ms / window, 3)])),
    repliesPerRead: Object.fromEntries(sorted(repliesPerRead)),
    writesAfterRead: Object.fromEntries(
      sorted(offsets).map(([k, byPosition]) => [k, { reads: byPosition.map((p) => p.length), ms: byPosition.map((p) => (p.length > 0 ? round(median(p), 3) : null)) }]),
    ),
  };
}

const dir = process.argv[2];
if (!dir) fail('no directory given');
let isDirectory = false;
try {
  isDirectory = statSync(dir).isDirectory();
} catch {
  fail(`${dir}: no such directory`);
}
if (!isDirectory) fail(`${dir}: not a directory`);
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
if (files.length === 0) fail(`${dir}: no timelines; run the bench with bench/timeline/record.mjs preloaded (its header says how)`);
for (const file of files) console.log(JSON.stringify({ file, ...report(readTimeline(join(dir, file))) }));
