import { Command, CommanderError } from 'commander';
import { registerValidate } from './commands/validate.ts';
import { registerWorker } from './commands/worker.ts';
import { registerRun } from './commands/run.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerDemo } from './commands/demo.ts';
import { registerApi } from './commands/api.ts';
import { registerServices } from './commands/services.ts';
import { registerHalt } from './commands/halt.ts';
import { registerRecordings } from './commands/recordings.ts';
import { EXIT, reportError } from './errors.ts';

/** Builds the `scenario-queue` command tree (SPEC §15). */
export function buildProgram(): Command {
  const program = new Command('scenario-queue')
    .description('Run long, expensive end-to-end scenarios as BullMQ jobs on Redis')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  registerValidate(program);
  registerWorker(program);
  registerRun(program);
  registerInspect(program);
  registerDemo(program);
  registerApi(program);
  registerServices(program);
  registerHalt(program);
  registerRecordings(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI and sets the exit code; never prints a stack trace for expected failures. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    process.exitCode = reportError(e);
  }
}

await main();
