// Preload for a benchmark worker child: stamps every write to and every read from a TCP socket
// (Redis, for a bench child) with performance.now(), and counts the commands in each write and
// the replies in each read with ioredis's own RESP parser. Writes
// `<BENCH_TIMELINE_DIR>/<side>-<pid>.json` when the child exits; `npm run bench:timeline`
// (bench/timeline/report.ts) reads them. Plain JavaScript: Node loads it before tsx. Diagnostic
// only: it parses everything the worker sends and receives a second time.
//
//   rm -rf /tmp/tl && BENCH_TIMELINE_DIR=/tmp/tl BENCH_CHILD_NODE_ARGS=--import=./bench/timeline/record.mjs \
//     npm run -s bench -- --only throughput --rounds 2 > /dev/null && npm run -s bench:timeline -- /tmp/tl
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const dir = process.env.BENCH_TIMELINE_DIR;
if (!dir) {
  process.stderr.write('bench/timeline/record.mjs: set BENCH_TIMELINE_DIR to the directory its timelines go to\n');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
const side = (() => {
  try {
    return JSON.parse(process.env.BENCH_CHILD ?? '{}').side ?? 'process';
  } catch {
    return 'process';
  }
})();
// The checkout whose worker this is (bench/worker-process.ts's; another with --baseline-tree).
const tree = process.argv[1] ? resolve(dirname(process.argv[1]), '..') : '';
const Parser = createRequire(createRequire(import.meta.url).resolve('ioredis'))('redis-parser');

// ~15 MB of arrays: a 10 000-step round makes ~12 500 stamps on its busiest socket.
const MAX = 1_000_000;
const at = new Float64Array(MAX);
/** 1 a write, 2 a read. */
const kind = new Int8Array(MAX);
/** The commands a write held (a pipeline or MULTI goes in one), or the replies a read completed. */
const count = new Int32Array(MAX);
const socketOf = new Int16Array(MAX);
let n = 0;
let dropped = 0;

const ids = new WeakMap();
let sockets = 0;
let parsed = 0;
const counted = () => parsed++;
function idOf(socket) {
  let id = ids.get(socket);
  if (id === undefined) ids.set(socket, (id = ++sockets));
  return id;
}
// One parser per socket and direction: a command or a reply may arrive in pieces.
const parsers = [new WeakMap(), new WeakMap()];
function parse(direction, socket, data) {
  let parser = parsers[direction].get(socket);
  if (!parser) parsers[direction].set(socket, (parser = new Parser({ returnReply: counted, returnError: counted, returnBuffers: true })));
  parsed = 0;
  parser.execute(data);
  return parsed;
}
function stamp(what, socket, data) {
  if (n >= MAX) {
    dropped++;
    return;
  }
  at[n] = performance.now();
  kind[n] = what;
  count[n] = parse(what - 1, socket, data);
  socketOf[n] = idOf(socket);
  n++;
}

const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (data, ...rest) {
  if (this.remotePort) stamp(1, this, typeof data === 'string' ? Buffer.from(data, typeof rest[0] === 'string' ? rest[0] : 'utf8') : data);
  return write.call(this, data, ...rest);
};
const emit = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (event, data, ...rest) {
  if (event === 'data' && this.remotePort) stamp(2, this, data);
  return emit.call(this, event, data, ...rest);
};

process.on('exit', () => {
  const events = [];
  for (let i = 0; i < n; i++) events.push([Math.round(at[i] * 1000) / 1000, kind[i], count[i], socketOf[i]]);
  writeFileSync(join(dir, `${side}-${process.pid}.json`), JSON.stringify({ side, tree, dropped, events }));
});
