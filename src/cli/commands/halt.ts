import type { Command } from 'commander';
import { createRunStore } from '../../engine/store.ts';
import { halt, unhalt } from '../../guardrails/halt.ts';
import { withClient } from '../context.ts';
import { UsageError } from '../errors.ts';

/** `halt` and `unhalt`: the kill switch (SPEC §11). */
export function registerHalt(program: Command): void {
  program
    .command('halt')
    .description('stop every new attempt on all workers (or of one scenario); runs end halted')
    .requiredOption('--reason <text>', 'why; shown to everyone whose run is refused or halted')
    .option('--scenario <name>', 'halt only this scenario')
    .option('--abort-running', 'abort in-flight attempts now instead of letting them finish')
    .action(async (opts: { reason: string; scenario?: string; abortRunning?: boolean }) => {
      if (!opts.reason.trim()) throw new UsageError('--reason must not be empty');
      await withClient(async (client) => {
        const store = createRunStore(client.redis, client.keys);
        const { ended } = await halt(client.redis, client.keys, store, { reason: opts.reason, scenario: opts.scenario, abortRunning: opts.abortRunning });
        const scope = opts.scenario ? `scenario ${opts.scenario}` : 'all scenarios';
        const rest = opts.abortRunning ? '' : '; runs with attempts in flight end when those finish';
        process.stdout.write(`halted ${scope}: ${opts.reason} (${ended} run${ended === 1 ? '' : 's'} ended now${rest})\n`);
      });
    });

  program
    .command('unhalt')
    .description('lift the kill switch (every halt, or one scenario’s)')
    .option('--scenario <name>', 'lift only this scenario’s halt')
    .action(async (opts: { scenario?: string }) => {
      await withClient(async (client) => {
        const lifted = await unhalt(client.redis, client.keys, { scenario: opts.scenario });
        process.stdout.write(lifted ? `unhalted ${opts.scenario ? `scenario ${opts.scenario}` : 'everything'}\n` : 'nothing was halted\n');
      });
    });
}
