// Preload for a benchmark worker child: stamps every write to and every read from a TCP socket
// (Redis, for a bench child) with performance.now(), and counts the replies in each read with
// ioredis's own RESP parser. Writes `<BENCH_TIMELINE_DIR>/<side>-<pid>.json` when the child
// exits; bench/timeline/report.mjs reads them. Diagnostic only: it parses every reply twice.
//
//   BENCH_TIMELINE_DIR=/tmp/tl BENCH_CHILD_NODE_ARGS="--import $PWD/bench/timeline/record.mjs" \
//     npm run bench -- --only throughput --rounds 2
//   node bench/timeline/report.mjs /tmp/tl
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const dir = process.env.BENCH_TIMELINE_DIR;
if (!dir) throw new Error('bench/timeline/record.mjs: set BENCH_TIMELINE_DIR to the directory its timelines go to');
const side = (() => {
  try {
    return JSON.parse(process.env.BENCH_CHILD ?? '{}').side ?? 'process';
  } catch {
    return 'process';
  }
})();
const Parser = createRequire(createRequire(import.meta.url).resolve('ioredis'))('redis-parser');

const MAX = 4_000_000;
const at = new Float64Array(MAX);
/** 1 a write, 2 a read. */
const kind = new Int8Array(MAX);
/** A write: 1; a read: the replies it completed. */
const count = new Int32Array(MAX);
const socketOf = new Int16Array(MAX);
let n = 0;

const ids = new WeakMap();
let sockets = 0;
const parsers = new WeakMap();
let replies = 0;
function idOf(socket) {
  let id = ids.get(socket);
  if (id === undefined) ids.set(socket, (id = ++sockets));
  return id;
}
function parserOf(socket) {
  let parser = parsers.get(socket);
  if (!parser) {
    const counted = () => replies++;
    parsers.set(socket, (parser = new Parser({ returnReply: counted, returnError: counted, returnBuffers: true })));
  }
  return parser;
}

const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (data, ...rest) {
  if (this.remotePort && n < MAX) {
    at[n] = performance.now();
    kind[n] = 1;
    count[n] = 1;
    socketOf[n] = idOf(this);
    n++;
  }
  return write.call(this, data, ...rest);
};
const emit = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (event, data, ...rest) {
  if (event === 'data' && this.remotePort && n < MAX) {
    at[n] = performance.now();
    kind[n] = 2;
    replies = 0;
    parserOf(this).execute(data);
    count[n] = replies;
    socketOf[n] = idOf(this);
    n++;
  }
  return emit.call(this, event, data, ...rest);
};

process.on('exit', () => {
  const events = [];
  for (let i = 0; i < n; i++) events.push([Math.round(at[i] * 1000) / 1000, kind[i], count[i], socketOf[i]]);
  writeFileSync(join(dir, `${side}-${process.pid}.json`), JSON.stringify({ side, events }));
});
