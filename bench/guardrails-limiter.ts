/**
 * Why the guardrails use their own Lua limiter instead of BullMQ's (docs/guardrails.md).
 * Measures, against a real Redis (REDIS_URL):
 *   1. BullMQ's queue limiter {max, duration}: the most job starts seen in any sliding window
 *      of `duration` ms (it counts in fixed windows, so a boundary can let up to 2·max through);
 *   2. the admission script's sliding log for the same limit, driven by racing callers;
 *   3. the admission script's latency with every guardrail configured.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 node --import tsx bench/guardrails-limiter.ts
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createKeys } from '../src/redis/keys.ts';
import { admitAttempt, settleAttempt, type AttemptIdentity } from '../src/guardrails/admission.ts';
import { applyServices } from '../src/guardrails/services-store.ts';
import { validateServices } from '../src/guardrails/services-schema.ts';

const MAX = 3;
const PER_MS = 1000;
const JOBS = 24;

function busiestWindow(starts: number[]): number {
  const sorted = [...starts].sort((a, b) => a - b);
  return Math.max(...sorted.map((s) => sorted.filter((x) => x >= s && x < s + PER_MS).length));
}

async function bullmqLimiter(url: string, prefix: string): Promise<number> {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue('limited', { connection, prefix });
  const starts: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const worker = new Worker(
    'limited',
    async () => {
      starts.push(Date.now());
      if (starts.length === JOBS) done();
    },
    { connection: connection.duplicate(), prefix, concurrency: 8, limiter: { max: MAX, duration: PER_MS } },
  );
  // Jobs arrive over time, as steps of running scenarios do, not all before the first window.
  for (let i = 0; i < JOBS; i++) {
    await queue.add('job', { i });
    await new Promise((r) => setTimeout(r, 90));
  }
  await finished;
  await worker.close();
  await queue.close();
  connection.disconnect();
  return busiestWindow(starts);
}

async function admissionLimiter(redis: Redis, prefix: string): Promise<number> {
  const keys = createKeys(prefix);
  await applyServices(redis, keys, validateServices({ services: { rated: { rateLimit: { max: MAX, perMs: PER_MS } } } }));
  const starts: number[] = [];
  const who = (i: number): AttemptIdentity => ({ runId: 'bench', stepId: `s${i}`, attempt: 1, workerId: 'bench', scenario: 'bench', service: 'rated', day: '2000-01-01' });
  const estimate = { usdMicro: 0, tokens: 0, calls: 0 };
  async function caller(i: number): Promise<void> {
    while (starts.length < JOBS) {
      const leaseId = `bench|${i}|${randomBytes(4).toString('hex')}`;
      const a = await admitAttempt(redis, keys, who(i), { leaseId, leaseMs: 10_000, live: true, estimate });
      if (a.kind === 'admitted') {
        starts.push(Date.now());
        await settleAttempt(redis, keys, who(i), { leaseId, member: '', outcome: 'ok', probe: false, actual: { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 } });
      } else if (a.kind === 'wait') await new Promise((r) => setTimeout(r, a.delayMs));
    }
  }
  await Promise.all(Array.from({ length: 8 }, (_, i) => caller(i)));
  return busiestWindow(starts.slice(0, JOBS));
}

async function admissionLatency(redis: Redis, prefix: string): Promise<{ p50: number; p99: number }> {
  const keys = createKeys(prefix);
  await applyServices(
    redis,
    keys,
    validateServices({
      services: { full: { rateLimit: { max: 1_000_000, perMs: 60_000 }, maxConcurrency: 1_000_000, circuitBreaker: { failureThreshold: 5, windowMs: 60_000, resetTimeoutMs: 30_000 } } },
      budgets: { daily: { usd: 1_000_000 } },
      maxConcurrentCalls: 1_000_000,
    }),
  );
  await redis.hset(keys.guard.run('lat').budget, { 'limit:usd': 1e12, 'limit:calls': 1e9, 'limit:onExceed': 'fail' });
  const who: AttemptIdentity = { runId: 'lat', stepId: 's', attempt: 1, workerId: 'bench', scenario: 'bench', service: 'full', day: '2000-01-01' };
  const samples: number[] = [];
  const estimate = { usdMicro: 10, tokens: 0, calls: 1 };
  for (let i = 0; i < 2000; i++) {
    const leaseId = `lat|${i}`;
    const t0 = process.hrtime.bigint();
    await admitAttempt(redis, keys, who, { leaseId, leaseMs: 10_000, live: true, estimate });
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    // Settled like a real attempt, so the pools stay at their steady-state size.
    await settleAttempt(redis, keys, who, { leaseId, member: `${leaseId}|10|0|1`, outcome: 'ok', probe: false, actual: { usd: 0.00001, tokens: { input: 0, output: 0 }, calls: 1 } });
  }
  samples.sort((a, b) => a - b);
  return { p50: Math.round(samples[1000]), p99: Math.round(samples[1980]) };
}

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `bench-guard-${randomBytes(3).toString('hex')}`;
const redis = new Redis(url, { maxRetriesPerRequest: null });
try {
  const bull = await bullmqLimiter(url, `${prefix}-bull`);
  const ours = await admissionLimiter(redis, `${prefix}-lua`);
  const latency = await admissionLatency(redis, `${prefix}-lat`);
  process.stdout.write(
    `${JSON.stringify({ limit: { max: MAX, perMs: PER_MS }, jobs: JOBS, busiestWindow: { bullmqLimiter: bull, admissionScript: ours }, admissionLatencyMicros: latency })}\n`,
  );
} finally {
  const found = await redis.keys(`${prefix}*`);
  if (found.length > 0) await redis.del(...found);
  redis.disconnect();
}
