/**
 * `npm run drills`: the chaos drills of issue #4 against harness-owned redis-server
 * processes and real worker processes. Progress goes to stderr; stdout gets exactly one
 * JSON document `{drills:[{name,status,figures,…}],passed,failed}`; the exit code is 1
 * when any drill fails. `npm run drills -- kill-9-workers sigterm` runs only those.
 */
import { killWorkers } from './kill-workers.ts';
import { redisRestart } from './redis-restart.ts';
import { redisOutage } from './redis-outage.ts';
import { crashBetweenWrites } from './crash-between-writes.ts';
import { isolationHang } from './isolation-hang.ts';
import { sigterm } from './sigterm.ts';
import { maxAge } from './max-age.ts';
import { guardrailsUnderKills } from './guardrails-under-kills.ts';
import { DrillContext, say, within, type Drill, type DrillCheck } from './support.ts';

const DRILLS: readonly Drill[] = [killWorkers, redisRestart, redisOutage, crashBetweenWrites, isolationHang, sigterm, maxAge, guardrailsUnderKills];
/** One drill may not take longer than this; the whole set stays well under 6 minutes. */
const DRILL_TIMEOUT_MS = 150_000;

interface DrillResult {
  name: string;
  description: string;
  status: 'passed' | 'failed';
  durationMs: number;
  figures: Record<string, unknown>;
  checks: DrillCheck[];
  error?: string;
}

async function runDrill(drill: Drill): Promise<DrillResult> {
  const ctx = new DrillContext();
  const started = Date.now();
  say(`${drill.name}: ${drill.description}`);
  let figures: Record<string, unknown> = {};
  let error: string | undefined;
  try {
    figures = await within(drill.run(ctx), DRILL_TIMEOUT_MS, drill.name);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    say(`  error: ${error}`);
  } finally {
    await ctx.dispose();
  }
  const ok = error === undefined && ctx.checks.length > 0 && ctx.checks.every((c) => c.ok);
  const durationMs = Date.now() - started;
  say(`${drill.name}: ${ok ? 'passed' : 'FAILED'} in ${(durationMs / 1000).toFixed(1)}s ${JSON.stringify(figures)}`);
  return { name: drill.name, description: drill.description, status: ok ? 'passed' : 'failed', durationMs, figures, checks: ctx.checks, ...(error ? { error } : {}) };
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !DRILLS.some((d) => d.name === n));
if (unknown.length > 0) {
  say(`unknown drill(s): ${unknown.join(', ')}; known: ${DRILLS.map((d) => d.name).join(', ')}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? DRILLS.filter((d) => wanted.includes(d.name)) : DRILLS;
// The harness unrefs its child processes; this keeps the loop alive while a drill waits on them.
const keepAlive = setInterval(() => {}, 60_000);
const started = Date.now();
const results: DrillResult[] = [];
for (const drill of selected) results.push(await runDrill(drill));
const failed = results.filter((r) => r.status === 'failed').length;
say(`${results.length - failed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
process.stdout.write(`${JSON.stringify({ drills: results, passed: results.length - failed, failed, durationMs: Date.now() - started })}\n`);
clearInterval(keepAlive);
process.exit(failed > 0 ? 1 : 0);
