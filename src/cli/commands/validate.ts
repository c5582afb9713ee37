import type { Command } from 'commander';
import { loadScenario } from '../../scenario/load.ts';
import { isScenarioValidationError } from '../../scenario/errors.ts';
import { customHandlers, knownHandlerNames } from '../context.ts';
import { EXIT } from '../errors.ts';
import { expandFiles } from '../files.ts';

/** `validate FILE…`: every error of every file at once; exit 2 when any file is invalid. */
export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check scenario files without running them')
    .argument('<files...>', 'scenario files (YAML or JSON) or globs')
    .option('--handlers <module>', 'module with custom handlers whose names the scenarios may use')
    .action(async (patterns: string[], opts: { handlers?: string }) => {
      const known = knownHandlerNames(await customHandlers(opts.handlers));
      let failed = 0;
      for (const file of await expandFiles(patterns)) {
        try {
          const def = await loadScenario(file, { knownHandlers: known });
          process.stdout.write(`ok ${file}: ${def.name} (${def.steps.length} steps)\n`);
        } catch (e) {
          if (!isScenarioValidationError(e)) throw e;
          failed++;
          process.stderr.write(`${e.format(file)}\n`);
        }
      }
      process.exitCode = failed > 0 ? EXIT.usage : EXIT.ok;
    });
}
