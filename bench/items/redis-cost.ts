/**
 * Item 3: Redis commands and Lua calls per no-op step, from INFO commandstats deltas, split
 * by MONITOR into commands clients sent and commands scripts ran. Independent steps (as in
 * item 1) and a chain (as in item 2), beside raw BullMQ doing the same.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { luaScripts } from '../../src/redis/lua-scripts.generated.ts';
import type { BenchContext, Goal } from '../context.ts';
import { startMonitor, type PhaseCounts } from '../monitor.ts';
import { drain, rawChain, rawJobs, scenarioChain, scenarioRuns, type Workload } from '../sides.ts';
import { ratio, round } from '../stats.ts';

const LUA_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);
/** The benchmark's own bookkeeping, not part of either side's cost. */
const isOwn = (cmd: string) => cmd === 'info' || cmd === 'echo' || cmd === 'monitor' || cmd.startsWith('config');

function delta(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [cmd, calls] of after) {
    const d = calls - (before.get(cmd) ?? 0);
    if (d > 0 && !isOwn(cmd)) out.set(cmd, d);
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m].reduce((a, [cmd, n]) => (isOwn(cmd) ? a : a + n), 0);

/** Script names by sha: ours from the generated table, BullMQ's from its bundled scripts. */
async function scriptNames(): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
  for (const [name, s] of Object.entries(luaScripts)) names.set(sha(s.lua), `sq:${name}`);
  // BullMQ does not export its script table; it is read from the installed package for labels only.
  const bullmqRoot = dirname(createRequire(import.meta.url).resolve('bullmq/package.json'));
  const bundled = (await import(pathToFileURL(join(bullmqRoot, 'dist/esm/scripts/index.js')).href)) as Record<string, { name?: string; content?: string }>;
  for (const script of Object.values(bundled)) {
    if (script?.name && script.content) names.set(sha(script.content), `bullmq:${script.name}`);
  }
  return names;
}

function perStep(steps: number, stats: Map<string, number>, monitored: PhaseCounts) {
  return {
    commands: round(sum(stats) / steps),
    luaCalls: round([...stats].filter(([c]) => LUA_COMMANDS.has(c)).reduce((a, [, n]) => a + n, 0) / steps),
    clientCommands: round(sum(monitored.client) / steps),
    commandsInLua: round(sum(monitored.lua) / steps),
  };
}

function merge(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map(a);
  for (const [k, v] of b) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

export async function redisCost(ctx: BenchContext): Promise<{ result: Record<string, unknown>; goals: Goal[] }> {
  const { costSteps, stepsPerRun, chain, concurrency } = ctx.options;
  const { redis } = ctx;
  const names = await scriptNames();
  if (redis.owned) await redis.admin.config('RESETSTAT');
  const workloads: Workload[] = [rawJobs(costSteps), scenarioRuns(costSteps, stepsPerRun), rawChain(chain), scenarioChain(chain)];
  const monitor = await startMonitor(redis.url, redis.admin);
  const out: Record<string, unknown> = {};
  try {
    for (const workload of workloads) {
      const label = workload.label;
      const calls: Map<string, number>[] = [];
      const snapshot = async () => void calls.push(await redis.commandCalls());
      await drain(redis, workload, concurrency, {
        beforeFill: async () => {
          await monitor.phase(`${label}:enqueue`);
          await snapshot();
        },
        afterFill: async () => {
          await snapshot();
          await monitor.phase(`${label}:idle`);
        },
        beforeResume: async () => {
          await snapshot();
          await monitor.phase(`${label}:process`);
        },
        afterDone: async () => {
          await monitor.phase(`${label}:after`);
          await snapshot();
        },
      });
      const [c0, c1, c2, c3] = calls;
      const enqueue = delta(c1, c0);
      const process = delta(c3, c2);
      const mEnqueue = monitor.counts(`${label}:enqueue`);
      const mProcess = monitor.counts(`${label}:process`);
      const mTotal: PhaseCounts = { client: merge(mEnqueue.client, mProcess.client), lua: merge(mEnqueue.lua, mProcess.lua), scripts: merge(mEnqueue.scripts, mProcess.scripts) };
      const steps = workload.steps;
      const byName = (m: Map<string, number>) =>
        Object.fromEntries([...m].filter(([k]) => !isOwn(k)).sort((a, b) => b[1] - a[1]).map(([k, v]) => [names.get(k) ?? k, round(v / steps, 3)]));
      out[label] = {
        steps,
        enqueue: perStep(steps, enqueue, mEnqueue),
        process: perStep(steps, process, mProcess),
        total: perStep(steps, merge(enqueue, process), mTotal),
        scriptsPerStep: byName(mTotal.scripts),
        clientCommandsPerStep: byName(mTotal.client),
      };
      ctx.progress(`redis cost ${label}: ${JSON.stringify((out[label] as { total: unknown }).total)} per step`);
    }
  } finally {
    await monitor.stop();
  }
  type Row = { total: ReturnType<typeof perStep> };
  const [rawRow, sqRow, rawChainRow, sqChainRow] = ['raw', 'sq', 'raw-chain', 'sq-chain'].map((k) => out[k] as Row);
  const ratios = (a: Row, b: Row) => ({
    commands: ratio(a.total.commands, b.total.commands),
    luaCalls: ratio(a.total.luaCalls, b.total.luaCalls),
    clientCommands: ratio(a.total.clientCommands, b.total.clientCommands),
  });
  return {
    result: {
      config: { costSteps, stepsPerRun, chain, concurrency, sharedRedis: !redis.owned },
      ...(redis.owned ? {} : { note: 'REDIS_URL is shared: the counts include other clients of that Redis' }),
      shapes: out,
      ratioIndependent: ratios(sqRow, rawRow),
      ratioChain: ratios(sqChainRow, rawChainRow),
    },
    // The issue sets no bound here: the figures are reported beside raw BullMQ's.
    goals: [],
  };
}
