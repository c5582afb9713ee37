import type { Command } from 'commander';
import { withClient } from '../context.ts';
import { UsageError } from '../errors.ts';
import { bundleText, writeBundleFile } from '../bundles.ts';

/** `bundle RUN_ID [--out DIR]`: a run's failure bundle (SPEC §12) on stdout, or as a file. */
export function registerBundle(program: Command): void {
  program
    .command('bundle')
    .description("print a run's bundle: summary, scenario, input, attempts, outputs, checkpoints, logs, artifacts, timeline, cost")
    .argument('<runId>')
    .option('--out <dir>', 'write <dir>/<runId>.bundle.json instead of printing')
    .action((runId: string, opts: { out?: string }) =>
      withClient(async (client) => {
        if (opts.out) {
          const path = await writeBundleFile(client, runId, opts.out);
          if (!path) throw new UsageError(`run ${runId} not found`);
          process.stdout.write(`${path}\n`);
          return;
        }
        const text = await bundleText(client, runId);
        if (text === undefined) throw new UsageError(`run ${runId} not found`);
        process.stdout.write(text);
      }),
    );
}
