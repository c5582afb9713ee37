import { Command, CommanderError } from 'commander';
import { EXIT, reportError } from './errors.ts';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: `validate` should not pay for
 * Fastify, Bull Board or the guardrails. Help and unknown commands load them all.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  validate: async () => (await import('./commands/validate.ts')).registerValidate,
  worker: async () => (await import('./commands/worker.ts')).registerWorker,
  run: async () => (await import('./commands/run.ts')).registerRun,
  status: async () => (await import('./commands/inspect.ts')).registerInspect,
  events: async () => (await import('./commands/inspect.ts')).registerInspect,
  cancel: async () => (await import('./commands/inspect.ts')).registerInspect,
  demo: async () => (await import('./commands/demo.ts')).registerDemo,
  api: async () => (await import('./commands/api.ts')).registerApi,
  recover: async () => (await import('./commands/recover.ts')).registerRecover,
  bundle: async () => (await import('./commands/bundle.ts')).registerBundle,
  services: async () => (await import('./commands/services.ts')).registerServices,
  halt: async () => (await import('./commands/halt.ts')).registerHalt,
  unhalt: async () => (await import('./commands/halt.ts')).registerHalt,
  recordings: async () => (await import('./commands/recordings.ts')).registerRecordings,
};

/** Builds the `scenario-queue` command tree (SPEC §15); with `only`, just that command's module. */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('scenario-queue')
    .description('Run long, expensive end-to-end scenarios as BullMQ jobs on Redis')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  const loaders = only && COMMANDS[only] ? [COMMANDS[only]] : Object.values(COMMANDS);
  const registered = new Set<Register>();
  for (const load of loaders) {
    const register = await load();
    if (registered.has(register)) continue;
    registered.add(register);
    register(program);
  }
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI and sets the exit code; never prints a stack trace for expected failures. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await (await buildProgram(argv[2])).parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    process.exitCode = reportError(e);
  }
}

await main();
