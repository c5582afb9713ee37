/**
 * `npm run bench`: scenario-queue against raw BullMQ on the same Redis in the same run.
 * Progress goes to stderr, one JSON document to stdout, a Markdown table to --out.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchContext, Goal } from './context.ts';
import { machineInfo } from './machine.ts';
import { BenchUsageError, parseOptions, type Item } from './options.ts';
import { openBenchRedis, redactUrl } from './redis.ts';
import { renderMarkdown } from './report.ts';
import { throughput } from './items/throughput.ts';
import { handoff } from './items/handoff.ts';
import { redisCost } from './items/redis-cost.ts';
import { fanout } from './items/fanout.ts';
import { guardrails } from './items/guardrails.ts';
import { memory } from './items/memory.ts';

type ItemRunner = (ctx: BenchContext) => Promise<{ result: Record<string, unknown>; goals: Goal[] }>;
const RUNNERS: Record<Item, ItemRunner> = { throughput, handoff, redisCost, fanout, guardrails, memory };

const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const redis = await openBenchRedis(options.redisUrl);
  progress(`redis ${redis.version} at ${redactUrl(redis.url)} (${redis.owned ? 'owned by the benchmark' : 'shared: REDIS_URL'})`);
  const machineBefore = await machineInfo(redis.version);
  const results: Partial<Record<Item, Record<string, unknown>>> = {};
  const goals: Goal[] = [];
  try {
    for (const item of options.only) {
      const t0 = performance.now();
      progress(`${item}: start`);
      const out = await RUNNERS[item]({ options, redis, progress });
      results[item] = { ...out.result, durationMs: Math.round(performance.now() - t0) };
      goals.push(...out.goals);
      progress(`${item}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await redis.close();
  }
  const doc = {
    schema: 'scenario-queue-bench/1',
    startedAt,
    durationMs: Math.round(performance.now() - started),
    machine: { ...machineBefore, loadAvgEnd: (await machineInfo(redis.version)).loadAvgStart },
    redis: { owned: redis.owned, url: redactUrl(redis.url), version: redis.version },
    options: { ...options, redisUrl: options.redisUrl && redactUrl(options.redisUrl) },
    results,
    goals,
  };
  await mkdir(dirname(options.out), { recursive: true });
  await writeFile(options.out, renderMarkdown(doc));
  progress(`markdown table written to ${options.out}`);
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

// The owned redis-server and worker children are unref'd (they must never keep a crashed
// benchmark alive), so awaiting their exit alone would let Node end early: hold the loop.
const keepAlive = setInterval(() => {}, 60_000);
main().then(
  () => {
    clearInterval(keepAlive);
    process.exitCode = 0;
  },
  (e: unknown) => {
    process.stderr.write(`[bench] failed: ${e instanceof Error ? e.message : String(e)}\n`);
    clearInterval(keepAlive);
    // Bad input (a flag, an env variable) is exit 2, as for the CLI; anything else 1.
    process.exitCode = e instanceof BenchUsageError ? 2 : 1;
  },
);
