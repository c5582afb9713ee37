/**
 * Redis CPU per no-op step as instructions counted by callgrind: the same workloads as the
 * throughput item (raw BullMQ jobs, scenario-queue steps 100 to a run unless --steps-per-run
 * says otherwise, concurrency 8), but a
 * count that does not move with a shared VM's steal time, so small changes to the scripts
 * show. Each side gets a fresh redis-server under `valgrind --tool=callgrind`, counted from
 * resume to the last unit done (the enqueue is not counted). Needs valgrind (Debian package).
 *
 *   node --import tsx bench/redis-instructions.ts [--steps 2000] [--steps-per-run 100] [--baseline-tree DIR] [--keep DIR] [--guarded]
 *
 * With --baseline-tree the other checkout's worker drains a third workload, enqueued by that
 * checkout's client (bench/sides.ts). With --keep each side's callgrind
 * dump is copied to DIR/<side>.callgrind (for `callgrind_annotate --inclusive=yes`). With
 * --guarded item 5's guarded steps are counted too (and on the baseline tree).
 * Progress on stderr, JSON on stdout.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getFreePort, pingRedis } from '../test/support/net.ts';
import { openBenchRedis } from './redis.ts';
import { drain, onTree, rawJobs, scenarioRuns, type Workload } from './sides.ts';
import { guardrailsWorkload } from './items/guardrails.ts';
import { round } from './stats.ts';

const USAGE = 'npm run -s bench:redis-instructions -- [--steps N] [--steps-per-run N] [--baseline-tree DIR] [--keep DIR] [--guarded]';
let values: { steps: string; 'steps-per-run': string; 'baseline-tree'?: string; keep?: string; guarded?: boolean };
try {
  values = parseArgs({
    options: { steps: { type: 'string', default: '2000' }, 'steps-per-run': { type: 'string', default: '100' }, 'baseline-tree': { type: 'string' }, keep: { type: 'string' }, guarded: { type: 'boolean' } },
  }).values;
} catch (e) {
  // An unknown or incomplete flag: its message names it; exit 2 without a stack trace.
  process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 100) {
  process.stderr.write(`--steps must be an integer of at least 100, got ${values.steps}\n`);
  process.exit(2);
}
// Scenario-queue steps per run (not raw's): what a run costs beyond its steps shows as the
// difference per step between two sizes.
const perRun = Number(values['steps-per-run']);
if (!Number.isInteger(perRun) || perRun < 1 || perRun > 1000) {
  process.stderr.write(`--steps-per-run must be an integer from 1 to 1000, got ${values['steps-per-run']}\n`);
  process.exit(2);
}
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  process.stderr.write('valgrind is not installed (apt-get install -y --no-install-recommends valgrind)\n');
  process.exit(2);
}

/** Instructions Redis ran between resume and the last unit done, per step. */
async function count(side: string, workload: Workload): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sq-callgrind-'));
  const port = await getFreePort();
  // No slowlog: under valgrind commands cross its threshold at random, and its entries moved
  // the count by ~1 %.
  const server = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${dir}/out`, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--slowlog-log-slower-than', '-1'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => server.once('exit', resolve));
  try {
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; !(await pingRedis('127.0.0.1', port)); i++) {
      // valgrind takes a few seconds to bring the server up.
      if (i > 100) throw new Error('redis-server under valgrind did not start');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const redis = await openBenchRedis(url);
    const control = (...args: string[]) => execFileSync('callgrind_control', [...args, String(server.pid)], { stdio: 'ignore' });
    try {
      await drain(redis, workload, 8, {
        beforeResume: async () => { control('-i', 'on'); control('-z'); },
        afterDone: async () => { control('-d'); control('-i', 'off'); },
      });
    } finally {
      await redis.close();
    }
    const dump = readdirSync(dir).find((f) => /^out\.\d+$/.test(f));
    const totals = dump ? /^totals: (\d+)/m.exec(readFileSync(join(dir, dump), 'utf8')) : null;
    if (!totals) throw new Error(`no callgrind dump in ${dir}`);
    if (values.keep) {
      mkdirSync(values.keep, { recursive: true });
      copyFileSync(join(dir, dump!), join(values.keep, `${side}.callgrind`));
    }
    return Number(totals[1]) / workload.steps;
  } finally {
    server.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const workloads: Record<string, Workload> = { raw: rawJobs(steps), sq: scenarioRuns(steps, perRun) };
if (values['baseline-tree']) workloads.baseline = onTree(scenarioRuns(steps, perRun), values['baseline-tree']);
if (values.guarded) {
  workloads.guarded = guardrailsWorkload('guarded', steps, 100);
  if (values['baseline-tree']) workloads['baseline-guarded'] = onTree(guardrailsWorkload('guarded', steps, 100), values['baseline-tree']);
}
const perStep: Record<string, number> = {};
for (const [side, workload] of Object.entries(workloads)) {
  perStep[side] = round(await count(side, workload) / 1000, 1);
  process.stderr.write(`[redis-instructions] ${side}: ${perStep[side]}k instructions per step\n`);
}
const result = {
  schema: 'scenario-queue-redis-instructions/1',
  steps,
  stepsPerRun: perRun,
  thousandInstructionsPerStep: perStep,
  ratioToRaw: round(perStep.sq / perStep.raw, 2),
  ...(perStep.baseline ? { ratioToBaseline: round(perStep.sq / perStep.baseline, 2) } : {}),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
