import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { createClient } from '../../client.ts';
import { loadScenario } from '../../scenario/load.ts';
import { startHttpTarget } from '../../demo/http-target.ts';
import { provideDemoRedis } from '../../demo/redis.ts';
import { startDemoWorker, type DemoWorker } from '../../demo/workers.ts';
import { cliEnv } from '../context.ts';
import { EXIT } from '../errors.ts';
import { printSummaries, startProgress } from '../output.ts';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** What each demo scenario shows, and the verdict it must reach. */
const DEMO_RUNS = [
  { file: 'diamond.yaml', shows: 'fan-out and a join that waits for both branches', expect: 'succeeded' },
  { file: 'retry-transient.yaml', shows: 'a transient 503 retried with backoff, succeeding on attempt 3', expect: 'succeeded' },
  { file: 'fail-fast.yaml', shows: 'a deterministic 400 failing at once (no retry), failFast cancelling the rest', expect: 'failed' },
  { file: 'timeouts.yaml', shows: 'an attempt timeout (retried, then timed_out) and a group deadline', expect: 'failed' },
  { file: 'condition.yaml', shows: 'exclusive conditions: one branch skipped, the join still runs', expect: 'succeeded' },
] as const;

/** `demo`: a real run end to end: Redis, a local HTTP service, two worker processes, five scenarios. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run example scenarios end to end on two local worker processes')
    .action(async () => {
      const env = cliEnv();
      const say = (line: string) => process.stderr.write(`${line}\n`);
      const redis = await provideDemoRedis(env.REDIS_URL);
      say(redis.owned ? `started a throwaway redis-server at ${redis.url}` : `using Redis at ${redis.url}`);
      const prefix = 'sq-demo';
      const target = await startHttpTarget();
      const logDir = mkdtempSync(join(tmpdir(), 'sq-demo-'));
      const workers: DemoWorker[] = [];
      const client = await createClient({ redisUrl: redis.url, prefix });
      try {
        const workerEnv = { REDIS_URL: redis.url, SQ_PREFIX: prefix, SQ_LOG_LEVEL: 'info' };
        for (let i = 0; i < 2; i++) workers.push(await startDemoWorker(workerEnv, join(logDir, `worker-${i + 1}.log`)));
        say(`2 workers ready (logs in ${logDir}); local HTTP service at ${target.url}; key prefix ${prefix}\n`);

        const runs = [];
        for (const demo of DEMO_RUNS) {
          const def = await loadScenario(join(EXAMPLES, demo.file));
          const { runId } = await client.enqueue(def, { input: { baseUrl: target.url }, suite: 'demo' });
          runs.push({ ...demo, def, runId });
        }
        const progress = startProgress(runs.map((r) => ({ runId: r.runId, scenario: r.def.name, steps: r.def.steps.map((s) => s.id) })));
        const summaries = await Promise.all(runs.map((r) => client.wait(r.runId, { onEvent: (e) => progress.onEvent(e) })));
        progress.done();
        printSummaries(summaries, {});

        let unexpected = 0;
        process.stdout.write('\nwhat each run showed:\n');
        runs.forEach((r, i) => {
          const ok = summaries[i].status === r.expect;
          if (!ok) unexpected++;
          process.stdout.write(`  ${ok ? 'as expected' : 'UNEXPECTED '}  ${r.def.name.padEnd(16)} ${summaries[i].status.padEnd(10)} ${r.shows}\n`);
        });
        if (!redis.owned) {
          process.stdout.write(`\ninspect a run with: REDIS_URL=${redis.url} SQ_PREFIX=${prefix} npx scenario-queue status ${runs[0].runId}\n`);
        }
        process.exitCode = unexpected === 0 ? EXIT.ok : EXIT.notSucceeded;
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
        await client.close();
        await target.close();
        await redis.stop();
      }
    });
}
