// A plain BullMQ throughput script, independent of the benchmark's harness (no child process,
// no IPC, no project code): it checks that `npm run bench`'s raw side measures what BullMQ does
// when used the ordinary way. N no-op jobs (removeOnComplete) are added first, then one Worker
// at concurrency C drains them; the clock runs from the Worker's creation to the last
// `completed` event, so it includes the worker's start (the harness excludes it).
//
// Each round runs in a fresh Node process, as each of the harness's rounds does: in one process
// the rounds after the first drain with BullMQ's code already compiled, and read 10-30 % faster
// (what `npm run bench -- --warmup N` measures), which is not what the harness's default compares.
//
//   REDIS_URL=redis://127.0.0.1:6379 node bench/raw-crosscheck.mjs [N=10000] [C=8] [rounds=3]
//
// Touches only its own queue (`<BULL_PREFIX or bull>:crosscheck-<pid>-<round>`) and obliterates
// it afterwards: safe on a shared Redis. Prints one JSON line per round and a median on stdout.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const [n, concurrency, rounds] = [['N', process.argv[2] ?? '10000'], ['C', process.argv[3] ?? '8'], ['rounds', process.argv[4] ?? '3']].map(([name, text]) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`${name} must be a positive integer, got ${JSON.stringify(text)}\nusage: node bench/raw-crosscheck.mjs [N] [C] [rounds]\n`);
    process.exit(2);
  }
  return value;
});
const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
const prefix = process.env.BULL_PREFIX || 'bull';

async function round(name) {
  const queue = new Queue(name, { connection, prefix });
  for (let i = 0; i < n; i += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'noop', data: { i: i + k }, opts: { removeOnComplete: true } })));
  }
  const started = performance.now();
  let done = 0;
  const worker = new Worker(name, async () => null, { connection, prefix, concurrency });
  await new Promise((resolve, reject) => {
    worker.on('completed', () => ++done === n && resolve());
    worker.on('failed', (job, err) => reject(new Error(`job ${job?.id} failed: ${err.message}`)));
  });
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return Math.round(n / seconds);
}

if (process.env.CROSSCHECK_ROUND) {
  // A child of the loop below: one round, its figure alone on stdout.
  process.stdout.write(`${await round(`crosscheck-${process.pid}-${process.env.CROSSCHECK_ROUND}`)}\n`);
} else {
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), String(n), String(concurrency), '1'], { env: { ...process.env, CROSSCHECK_ROUND: String(r + 1) }, stdio: ['ignore', 'pipe', 'inherit'] });
    results.push(Number(String(out).trim()));
    console.log(JSON.stringify({ round: r + 1, jobs: n, concurrency, jobsPerSec: results.at(-1) }));
  }
  // The bench's median (bench/stats.ts): the mean of the middle two for an even count.
  const sorted = results.sort((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  console.log(JSON.stringify({ medianJobsPerSec: Math.round((sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2) }));
}
