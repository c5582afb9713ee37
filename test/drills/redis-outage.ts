/**
 * Drill 3: Redis unreachable for 10 s (a proxy resets every connection and refuses new
 * ones). Workers stay up and resume; a CLI waiting with `--wait` reattaches and reports
 * the verdict the run really has.
 */
import { spawn } from 'node:child_process';
import { startRedisProxy } from './proxy.ts';
import { alive, cleanEnv, checkCleanSuccess, layeredYaml, scenario, PREFIX, runEvents, say, sleep, until, within, type Drill } from './support.ts';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OUTAGE_MS = 10_000;

export const redisOutage: Drill = {
  name: 'redis-unreachable-10s',
  description: `Redis unreachable for ${OUTAGE_MS / 1000}s mid-run; workers and a waiting CLI ride it out`,
  async run(ctx) {
    const redis = await ctx.redis();
    const proxy = await startRedisProxy(redis.port);
    ctx.onDispose(() => proxy.close());
    const direct = await ctx.client(redis.url);
    const workers = await Promise.all([ctx.worker(proxy.url), ctx.worker(proxy.url)]);
    const yaml = layeredYaml('outage-drill', 40, 6, (i) => `uses: fault, with: { hangMs: ${500 + ((i * 71) % 400)}, output: { i: ${i} } }`);
    const def = scenario(yaml);
    const dir = await mkdtemp(join(tmpdir(), 'sq-drill-'));
    const file = join(dir, 'outage.yaml');
    await writeFile(file, yaml);

    // The CLI waits through the proxy too, exactly as CI would.
    const cli = spawn(process.execPath, ['bin/scenario-queue.js', 'run', file, '--wait', '--json'], {
      env: { ...cleanEnv(), REDIS_URL: proxy.url, SQ_PREFIX: PREFIX },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const cliExit = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
    ctx.onDispose(async () => {
      cli.kill('SIGKILL');
    });

    await until(() => /enqueued outage-drill as (\S+)/.test(stderr), 30_000, 'CLI enqueued the run');
    const runId = /enqueued outage-drill as (\S+)/.exec(stderr)![1];
    await until(async () => ((await direct.status(runId))?.steps.filter((s) => s.status === 'succeeded').length ?? 0) >= 8, 60_000, '8 steps before the outage');
    const cutAt = Date.now();
    proxy.cut();
    say(`  Redis unreachable for ${OUTAGE_MS}ms (run ${runId})`);
    await sleep(OUTAGE_MS);
    proxy.restore();
    const restoredAt = Date.now();
    say('  Redis reachable again');

    const code = await within(cliExit, 90_000, 'CLI verdict');
    const summary = await within(direct.wait(runId), 10_000, 'stored verdict');
    const events = await runEvents(direct, runId);
    checkCleanSuccess(ctx, summary, events);
    let reported: { status?: string } = {};
    try {
      reported = JSON.parse(stdout) as { status?: string };
    } catch {
      ctx.check('CLI printed its JSON summary', false, stdout.slice(0, 200));
    }
    ctx.check('CLI reported the stored verdict', reported.status === summary.status, { cli: reported.status, stored: summary.status });
    ctx.check('CLI exit code matches the verdict (0)', code === 0, code);
    const down = workers.filter((w) => !alive(w.pid));
    ctx.check('workers stayed up through the outage', down.length === 0, down.map((w) => w.pid));
    const after = events.filter((e) => e.ts > restoredAt && (e.type === 'step.started' || e.type === 'step.succeeded'));
    ctx.check('workers resumed after the outage', after.length > 0, after.length);
    return {
      outageMs: restoredAt - cutAt,
      firstProgressAfterOutageMs: after.length > 0 ? Math.min(...after.map((e) => e.ts)) - restoredAt : null,
      cliExitCode: code,
      verdict: summary.status,
      stepsRestartedAfterStall: events.filter((e) => e.type === 'step.started' && e.data.restart === true).length,
      recoveryActions: events.filter((e) => e.type === 'recovery.action').length,
    };
  },
};

