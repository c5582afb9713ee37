// A plain BullMQ throughput script, independent of the benchmark's harness (no IPC, no project
// code): it checks that `npm run bench`'s raw side measures what BullMQ does when used the
// ordinary way. N no-op jobs (removeOnComplete) are added first, then one Worker at concurrency
// C drains them; the clock runs from the Worker's creation to the last `completed` event, so it
// includes the worker's start (the harness excludes it).
//
// Each round runs in a child process of its own, as each of the harness's rounds does: in one
// process the rounds after the first drain with BullMQ's code already compiled, and read
// 24-39 % faster in three runs (what `npm run bench -- --warmup N` measures), which is not what
// the harness's default compares.
//
//   REDIS_URL=redis://127.0.0.1:6379 node bench/raw-crosscheck.mjs [N=10000] [C=8] [rounds=3]
//
// Touches only its own queue (`<BULL_PREFIX or bull>:crosscheck-<pid>-<round>`) and obliterates
// it afterwards, failed or not: safe on a shared Redis. Prints one JSON line per round and a
// median on stdout.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';

const USAGE = 'usage: REDIS_URL=redis://host:port node bench/raw-crosscheck.mjs [N] [C] [rounds]\n';
function usage(message) {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

// `--round R` (first) marks the child that runs round R alone; the rest are the user's arguments.
const roundArg = process.argv[2] === '--round' ? process.argv[3] : undefined;
const args = roundArg === undefined ? process.argv.slice(2) : process.argv.slice(4);
const [n, concurrency, rounds] = [['N', args[0] ?? '10000'], ['C', args[1] ?? '8'], ['rounds', args[2] ?? '3']].map(([name, text]) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) usage(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
});
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
try {
  if (!/^rediss?:$/.test(new URL(redisUrl).protocol)) throw new Error('not redis:');
} catch {
  usage(`REDIS_URL must be a redis:// or rediss:// URL, got ${JSON.stringify(redisUrl)}`);
}
// As the harness's children connect (bench/worker-process.ts): password, db and TLS kept.
const connection = { url: redisUrl, maxRetriesPerRequest: null };
const prefix = process.env.BULL_PREFIX || 'bull';

async function round(name) {
  const queue = new Queue(name, { connection, prefix });
  let worker;
  try {
    for (let i = 0; i < n; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'noop', data: { i: i + k }, opts: { removeOnComplete: true } })));
    }
    const started = performance.now();
    let done = 0;
    worker = new Worker(name, async () => null, { connection, prefix, concurrency });
    await new Promise((resolve, reject) => {
      worker.on('completed', () => ++done === n && resolve());
      worker.on('failed', (job, err) => reject(new Error(`job ${job?.id} failed: ${err.message}`)));
      worker.on('error', (err) => reject(err));
    });
    return Math.round(n / ((performance.now() - started) / 1000));
  } finally {
    await worker?.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

if (roundArg !== undefined) {
  // A child of the loop below: one round, its figure alone on stdout.
  try {
    process.stdout.write(`${await round(`crosscheck-${process.pid}-${roundArg}`)}\n`);
  } catch (e) {
    process.stderr.write(`round ${roundArg}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
} else {
  const results = [];
  for (let r = 1; r <= rounds; r++) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--round', String(r), String(n), String(concurrency)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      timeout: Math.max(120_000, n * 20),
    });
    const jobsPerSec = Number(child.stdout?.trim());
    if (child.status !== 0 || !Number.isFinite(jobsPerSec)) {
      process.stderr.write(`round ${r} did not finish (${child.error?.message ?? (child.signal ? `signal ${child.signal}` : `exit status ${child.status}`)})\n`);
      process.exit(1);
    }
    results.push(jobsPerSec);
    console.log(JSON.stringify({ round: r, jobs: n, concurrency, jobsPerSec }));
  }
  // The bench's median (bench/stats.ts): the mean of the middle two for an even count.
  const sorted = results.sort((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  console.log(JSON.stringify({ medianJobsPerSec: Math.round((sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2) }));
}
