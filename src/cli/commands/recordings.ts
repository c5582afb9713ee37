import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { exportRecordings, importRecordings } from '../../guardrails/recordings.ts';
import { withClient } from '../context.ts';
import { UsageError } from '../errors.ts';

/** `recordings export|import`: move `--record`ed responses between Redis instances (SPEC §10). */
export function registerRecordings(program: Command): void {
  const recordings = program.command('recordings').description('responses kept by `run --record` for mocked runs');

  recordings
    .command('export')
    .description('write recordings as JSON (stdout, or --out FILE)')
    .option('--scenario <name>', 'only this scenario')
    .option('--out <file>', 'write here instead of stdout')
    .action(async (opts: { scenario?: string; out?: string }) => {
      await withClient(async (client) => {
        const doc = await exportRecordings(client.redis, client.keys, opts.scenario);
        const json = `${JSON.stringify(doc, null, 2)}\n`;
        if (opts.out) {
          await writeFile(opts.out, json);
          process.stderr.write(`exported ${doc.recordings.length} recording(s) to ${opts.out}\n`);
        } else process.stdout.write(json);
      });
    });

  recordings
    .command('import')
    .description('store recordings from an export file')
    .argument('<file>', 'JSON written by recordings export')
    .action(async (file: string) => {
      let doc: unknown;
      try {
        doc = JSON.parse(await readFile(file, 'utf8'));
      } catch (e) {
        throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `not JSON (${(e as Error).message})`}`);
      }
      await withClient(async (client) => {
        const n = await importRecordings(client.redis, client.keys, doc).catch((e: unknown) => {
          throw new UsageError(`${file}: not a recordings export (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
        });
        process.stdout.write(`imported ${n} recording(s)\n`);
      });
    });
}
