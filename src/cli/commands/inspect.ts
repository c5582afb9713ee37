import type { Command } from 'commander';
import type { ScenarioClient } from '../../client.ts';
import type { RunSummary } from '../../engine/types.ts';
import { TERMINAL_RUN_STATUSES } from '../../engine/types.ts';
import { withClient } from '../context.ts';
import { EXIT, UsageError } from '../errors.ts';
import { formatEventLine } from '../progress/index.ts';
import { exitCodeOf, printSummaries } from '../output.ts';

/** The run's summary, or a usage error (exit 2) naming the unknown run id. */
export async function requireRun(client: ScenarioClient, runId: string): Promise<RunSummary> {
  const summary = await client.status(runId);
  if (!summary) throw new UsageError(`run ${runId} not found`);
  return summary;
}

/** `status`, `events` and `cancel`: look at or stop one run. */
export function registerInspect(program: Command): void {
  program
    .command('status')
    .description("print a run's summary")
    .argument('<runId>')
    .option('--json', 'print the JSON summary only')
    .action((runId: string, opts: { json?: boolean }) =>
      withClient(async (client) => {
        const summary = await requireRun(client, runId);
        printSummaries([summary], { json: opts.json });
        // A run still in progress is not a failure yet.
        process.exitCode = TERMINAL_RUN_STATUSES.includes(summary.status) ? exitCodeOf([summary]) : EXIT.ok;
      }),
    );

  program
    .command('events')
    .description("print a run's events; --follow keeps printing until the run ends")
    .argument('<runId>')
    .option('--follow', 'wait for new events until the run ends')
    .option('--json', 'one JSON object per line')
    .action((runId: string, opts: { follow?: boolean; json?: boolean }) =>
      withClient(async (client) => {
        await requireRun(client, runId);
        for await (const event of client.events(runId, { follow: opts.follow })) {
          process.stdout.write(opts.json ? `${JSON.stringify(event)}\n` : `${formatEventLine(event)}\n`);
        }
      }),
    );

  program
    .command('cancel')
    .description('cancel a run: running steps are aborted, the rest cancelled')
    .argument('<runId>')
    .option('--reason <text>', 'recorded with the run', 'cancelled by user')
    .action((runId: string, opts: { reason: string }) =>
      withClient(async (client) => {
        const before = await requireRun(client, runId);
        const cancelled = await client.cancel(runId, opts.reason);
        process.stdout.write(cancelled ? `cancelled ${runId}\n` : `run ${runId} was already ${before.status}\n`);
      }),
    );
}
