import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import type { Command } from 'commander';
import { STEP_QUEUE } from '../../redis/keys.ts';
import { closeDeadlineQueue } from '../../engine/jobs.ts';
import { runRecovery, type RecoveryOutcome } from '../../recovery/reaper.ts';
import type { RecoveryReport } from '../../recovery/report.ts';
import { guardrailReclaimers } from '../../guardrails/reclaim.ts';
import { libraryReclaimer } from '../../recovery/libraries.ts';
import { cliEnv, openClient } from '../context.ts';
import { EXIT } from '../errors.ts';

/** How long `recover` waits for a pass that another process is running. */
const LOCK_WAIT_MS = 15_000;

function toText(report: RecoveryReport): string {
  const head = report.dryRun ? 'recovery dry run (nothing was changed)' : 'recovery pass';
  const lines = [
    `${head}: scanned ${report.scanned} active run${report.scanned === 1 ? '' : 's'}`,
    `  resumed ${report.resumed}, retried ${report.retried}, marked failed ${report.markedFailed}, skipped ${report.skipped}, reclaimed ${report.reclaimed}, errors ${report.errors.length}`,
  ];
  for (const a of report.actions) {
    const where = [a.runId, a.stepId && `step ${a.stepId}`, a.attempt !== undefined && `attempt ${a.attempt}`].filter(Boolean).join(' ');
    lines.push(`  ${a.action.padEnd(11)} ${where ? `${where}: ` : ''}${a.reason}${a.count !== undefined ? ` (${a.count})` : ''}`);
  }
  for (const e of report.errors) lines.push(`  error       ${e.runId ? `${e.runId}: ` : ''}${e.message}`);
  return lines.join('\n');
}

/** `recover [--dry-run] [--json]`: one reaper pass now (SPEC §13), and its report. */
export function registerRecover(program: Command): void {
  program
    .command('recover')
    .description('repair runs interrupted by crashes now (resume, retry, mark failed, reclaim) and print the report')
    .option('--dry-run', 'report what would be repaired; change nothing')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const env = cliEnv();
      const client = await openClient();
      const queue = new Queue(STEP_QUEUE, { connection: client.redis, prefix: client.keys.prefix });
      queue.on('error', () => {});
      try {
        const options = {
          redis: client.redis,
          keys: client.keys,
          queue,
          by: `cli-${hostname()}-${process.pid}`,
          maxAgeMs: env.SQ_RECOVERY_MAX_AGE_MS,
          trigger: 'cli',
          dryRun: opts.dryRun,
          reclaimers: [...guardrailReclaimers(), libraryReclaimer()],
        };
        let outcome: RecoveryOutcome = await runRecovery(options);
        for (const until = Date.now() + LOCK_WAIT_MS; !outcome.ran && Date.now() < until; ) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          outcome = await runRecovery(options);
        }
        if (!outcome.ran) {
          process.stderr.write(`error: another recovery pass (${outcome.heldBy ?? 'unknown owner'}) held the lock for ${LOCK_WAIT_MS}ms; try again\n`);
          process.exitCode = EXIT.notSucceeded;
          return;
        }
        process.stdout.write(`${opts.json ? JSON.stringify(outcome.report) : toText(outcome.report)}\n`);
        process.exitCode = outcome.report.errors.length > 0 ? EXIT.notSucceeded : EXIT.ok;
      } finally {
        await closeDeadlineQueue(queue).catch(() => {});
        await queue.close().catch(() => {});
        await client.close();
      }
    });
}
