/**
 * Benchmark options: flags (`--steps 20000`) win over env (`BENCH_STEPS=20000`), which win
 * over the defaults; `--quick` swaps in tiny sizes for the smoke test.
 */
import { z } from 'zod';

export const ITEMS = ['throughput', 'handoff', 'redisCost', 'fanout', 'guardrails', 'memory'] as const;
export type Item = (typeof ITEMS)[number];

const count = z.coerce.number().int().min(1);

const BenchOptions = z.object({
  quick: z.boolean(),
  /** BullMQ worker concurrency C, the same on both sides. @default 8 */
  concurrency: count.max(1000),
  /** Jobs (raw) and steps (scenario-queue) per throughput round. @default 10000 */
  steps: count,
  /** Independent steps per run on the scenario-queue side (≤ 1000, the scenario limit). @default 100 */
  stepsPerRun: count.max(1000),
  /** A/B repetitions per comparison, medians reported (fan-out repeats 3× as often). @default 5 */
  rounds: count.max(50),
  /** Sequential steps in the handoff chain (≤ 1000). @default 500 */
  chain: count.min(2).max(1000),
  /**
   * Throughput item: steps (raw: jobs) each side's worker drains before the measured ones, not
   * timed. 0 measures a fresh worker, JIT compilation included (the default and the goal's
   * figure); 20000 one that has been up a while (docs/performance.md). @default 0
   */
  warmup: z.coerce.number().int().min(0),
  /** Steps per side when counting Redis commands. @default 2000 */
  costSteps: count,
  /** Steps of the diamond and of the independent run (≤ 1000). @default 1000 */
  width: count.min(3).max(1000),
  /** Steps after which worker RSS is read; growth is last minus first. @default [10000, 100000] */
  memorySteps: z.array(count).min(2).refine((a) => a.every((v, i) => i === 0 || v > a[i - 1]), 'must increase'),
  only: z.array(z.enum(ITEMS)),
  /** Markdown table written here. @default bench/results/latest.md */
  out: z.string().min(1),
  redisUrl: z.string().url().optional(),
  /**
   * Another checkout of this repository (e.g. `git worktree add /tmp/before HEAD~1`): its
   * worker runs as a third side of items 1 and 2, and its client and worker run item 4's
   * shapes beside this tree's, for before/after figures in one run.
   */
  baselineTree: z.string().min(1).optional(),
});
export type BenchOptions = z.infer<typeof BenchOptions>;

const FULL = { concurrency: 8, steps: 10_000, stepsPerRun: 100, rounds: 5, warmup: 0, chain: 500, costSteps: 2000, width: 1000, memorySteps: [10_000, 100_000] };
const QUICK = { concurrency: 8, steps: 200, stepsPerRun: 20, rounds: 1, warmup: 0, chain: 20, costSteps: 100, width: 40, memorySteps: [200, 600] };

const FLAGS: Record<string, keyof BenchOptions> = {
  '--concurrency': 'concurrency',
  '--steps': 'steps',
  '--steps-per-run': 'stepsPerRun',
  '--rounds': 'rounds',
  '--warmup': 'warmup',
  '--chain': 'chain',
  '--cost-steps': 'costSteps',
  '--width': 'width',
  '--memory-steps': 'memorySteps',
  '--only': 'only',
  '--out': 'out',
  '--baseline-tree': 'baselineTree',
};

export const USAGE = `npm run bench -- [--quick] ${Object.keys(FLAGS).map((f) => `[${f} V]`).join(' ')}
  env: REDIS_URL (else a benchmark-owned redis-server), BENCH_<FLAG> (e.g. BENCH_STEPS=20000)
  --memory-steps and --only take comma-separated lists; items: ${ITEMS.join(', ')}`;

const LISTS = new Set<keyof BenchOptions>(['memorySteps', 'only']);

function envName(flag: string): string {
  return `BENCH_${flag.slice(2).replace(/-/g, '_').toUpperCase()}`;
}

/** Bad input to the benchmark (a flag, an env variable): `npm run bench` exits 2 with its message. */
export class BenchUsageError extends Error {}

/**
 * The extra Node flags of the worker children, from BENCH_CHILD_NODE_ARGS: words split at
 * spaces (`--cpu-prof --cpu-prof-dir=/tmp/prof`), or a JSON array of strings for an argument
 * that holds a space (`["--cpu-prof-dir=/tmp/my profiles"]`).
 */
export function childNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const value = (env.BENCH_CHILD_NODE_ARGS ?? '').trim();
  if (!value.startsWith('[')) return value.split(/\s+/).filter(Boolean);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new BenchUsageError(`BENCH_CHILD_NODE_ARGS: starts with "[" but is not a JSON array of strings: ${value}`);
  }
  return parsed;
}

/** Parses argv and env into validated options; throws BenchUsageError with the usage on a bad flag. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const quick = argv.includes('--quick') || env.BENCH_QUICK === '1';
  const raw: Record<string, unknown> = { ...(quick ? QUICK : FULL), quick, only: [...ITEMS], out: 'bench/results/latest.md', redisUrl: env.REDIS_URL || undefined };
  const set = (key: keyof BenchOptions, value: string) => {
    raw[key] = LISTS.has(key) ? value.split(',').filter(Boolean) : value;
  };
  for (const [flag, key] of Object.entries(FLAGS)) {
    const value = env[envName(flag)];
    if (value) set(key, value);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') continue;
    if (arg === '--help' || arg === '-h') throw new BenchUsageError(USAGE);
    const [flag, inline] = arg.split('=', 2);
    const key = FLAGS[flag];
    if (!key) throw new BenchUsageError(`unknown argument "${arg}"\n${USAGE}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new BenchUsageError(`${flag} needs a value\n${USAGE}`);
    set(key, value);
  }
  const parsed = BenchOptions.safeParse(raw);
  if (!parsed.success) {
    // Named as the user gave it: REDIS_URL comes from the environment only.
    const field = (path: PropertyKey[]) => (path[0] === 'redisUrl' ? 'REDIS_URL' : path.join('.'));
    throw new BenchUsageError(`${parsed.error.issues.map((i) => `${field(i.path)}: ${i.message}`).join('; ')}\n${USAGE}`);
  }
  childNodeArgs(env); // a bad BENCH_CHILD_NODE_ARGS fails here, before anything runs
  return parsed.data;
}
