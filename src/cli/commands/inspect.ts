import type { Command } from 'commander';
import { openClient } from '../context.ts';
import { EXIT, UsageError } from '../errors.ts';
import { formatEventLine } from '../progress/index.ts';
import { printSummaries } from '../output.ts';
import { TERMINAL_RUN_STATUSES } from '../../engine/types.ts';

/** `status`, `events` and `cancel`: look at or stop one run. */
export function registerInspect(program: Command): void {
  program
    .command('status')
    .description("print a run's summary")
    .argument('<runId>')
    .option('--json', 'print the JSON summary only')
    .action(async (runId: string, opts: { json?: boolean }) => {
      const client = await openClient();
      try {
        const summary = await client.status(runId);
        if (!summary) throw new UsageError(`run ${runId} not found`);
        printSummaries([summary], { json: opts.json });
        process.exitCode = TERMINAL_RUN_STATUSES.includes(summary.status) && !['succeeded', 'skipped'].includes(summary.status) ? EXIT.notSucceeded : EXIT.ok;
      } finally {
        await client.close();
      }
    });

  program
    .command('events')
    .description("print a run's events; --follow keeps printing until the run ends")
    .argument('<runId>')
    .option('--follow', 'wait for new events until the run ends')
    .option('--json', 'one JSON object per line')
    .action(async (runId: string, opts: { follow?: boolean; json?: boolean }) => {
      const client = await openClient();
      try {
        if (!(await client.status(runId))) throw new UsageError(`run ${runId} not found`);
        for await (const event of client.events(runId, { follow: opts.follow })) {
          process.stdout.write(opts.json ? `${JSON.stringify(event)}\n` : `${formatEventLine(event)}\n`);
        }
      } finally {
        await client.close();
      }
    });

  program
    .command('cancel')
    .description('cancel a run: running steps are aborted, the rest cancelled')
    .argument('<runId>')
    .option('--reason <text>', 'recorded with the run', 'cancelled by user')
    .action(async (runId: string, opts: { reason: string }) => {
      const client = await openClient();
      try {
        const before = await client.status(runId);
        if (!before) throw new UsageError(`run ${runId} not found`);
        const cancelled = await client.cancel(runId, opts.reason);
        process.stdout.write(cancelled ? `cancelled ${runId}\n` : `run ${runId} was already ${before.status}\n`);
      } finally {
        await client.close();
      }
    });
}
