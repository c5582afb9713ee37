import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import type { ScenarioClient } from '../../client.ts';
import { loadScenario } from '../../scenario/load.ts';
import { isScenarioValidationError } from '../../scenario/errors.ts';
import type { ScenarioDef } from '../../scenario/types.ts';
import type { RunSummary, ScenarioEvent } from '../../engine/types.ts';
import { customHandlers, knownHandlerNames, withClient } from '../context.ts';
import { EXIT, UsageError } from '../errors.ts';
import { expandFiles } from '../files.ts';
import { intFlag, parseInputPairs, readInputFile } from '../input.ts';
import { exitCodeOf, printSummaries, publishCiReports, startProgress } from '../output.ts';
import { toJunitXml } from '../reports/junit.ts';
import { writeFailureBundles } from '../bundles.ts';
import { resumeFrom } from '../resume.ts';
import { addGuardOptions, guardEnqueueFlags, type GuardFlags } from '../budget-flags.ts';

export interface RunFlags extends GuardFlags {
  input: string[];
  inputFile?: string;
  wait?: boolean;
  json?: boolean;
  junit?: string;
  timeout?: string;
  suite?: string;
  mock?: boolean;
  handlers?: string;
  bundleDir?: string;
  resume?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Loads every file first: all errors of all files at once, and nothing enqueued if any. */
async function loadAll(files: string[], known: Set<string>): Promise<ScenarioDef[]> {
  const defs: ScenarioDef[] = [];
  const errors: string[] = [];
  for (const file of files) {
    try {
      defs.push(await loadScenario(file, { knownHandlers: known }));
    } catch (e) {
      if (!isScenarioValidationError(e)) throw e;
      errors.push(e.format(file));
    }
  }
  if (errors.length > 0) throw new UsageError(`invalid scenario${errors.length > 1 ? 's' : ''}, nothing was enqueued:\n${errors.join('\n')}`);
  return defs;
}

/**
 * Waits for every run, with live progress on stderr and the triage hint when no worker is
 * alive; `budget.warning` events are kept in `warnings` for the CI annotations.
 */
async function waitAll(client: ScenarioClient, runs: { runId: string; def: ScenarioDef }[], warnings: ScenarioEvent[]): Promise<RunSummary[]> {
  const progress = startProgress(runs.map((r) => ({ runId: r.runId, scenario: r.def.name, steps: r.def.steps.map((s) => s.id) })));
  try {
    return await Promise.all(
      runs.map((r) =>
        client.wait(r.runId, {
          onEvent: (e) => {
            progress.onEvent(e);
            if (e.type === 'budget.warning') warnings.push(e);
          },
          onIdle: (hint) =>
            progress.onHint(
              `no live workers have sent a heartbeat for 30s (queue depth ${hint.queueDepth}, Redis ${hint.redisUrl}); start one with: scenario-queue worker`,
            ),
        }),
      ),
    );
  } finally {
    progress.done();
  }
}

/** `run FILE…`: enqueue scenarios (one suite when several) and, with --wait, report verdicts. */
export function registerRun(program: Command): void {
  const command = program
    .command('run')
    .description('enqueue scenario runs; with --wait, wait for the verdict')
    .argument('<files...>', 'scenario files or globs; several form one suite')
    .option('--input <key=value>', 'input value (JSON or string); repeatable', collect, [])
    .option('--input-file <file>', 'JSON or YAML object of input values')
    .option('--wait', 'wait for the runs to end and report them')
    .option('--json', 'print only the JSON summary on stdout')
    .option('--junit <file>', 'write a JUnit XML report (with --wait)')
    .option('--timeout <ms>', "override the scenario's whole-run timeoutMs")
    .option('--suite <id>', 'label shared by the runs of this command')
    .option('--mock', 'run every step mocked (mock outputs and recordings)')
    .option('--handlers <module>', 'custom handlers whose names the scenarios may use')
    .option('--bundle-dir <dir>', 'write a failure bundle for each run that does not succeed (with --wait)')
    .option('--resume <runId>', "reuse the outputs of that run's succeeded steps; run the rest");
  addGuardOptions(command)
    .action(async (patterns: string[], opts: RunFlags) => {
      if (opts.junit && !opts.wait) throw new UsageError('--junit needs --wait');
      if (opts.bundleDir && !opts.wait) throw new UsageError('--bundle-dir needs --wait');
      const files = await expandFiles(patterns);
      const input = { ...(opts.inputFile ? await readInputFile(opts.inputFile) : {}), ...parseInputPairs(opts.input) };
      const timeoutMs = opts.timeout ? intFlag('--timeout', opts.timeout) : undefined;
      if (opts.suite !== undefined && !/^[A-Za-z0-9_.-]{1,128}$/.test(opts.suite)) throw new UsageError(`--suite "${opts.suite}": use letters, digits, _ . or -`);
      await withClient(async (client) => {
        const advertised = (await client.liveWorkers()).flatMap((w) => w.handlers);
        const defs = await loadAll(files, knownHandlerNames(await customHandlers(opts.handlers), advertised));
        const suite = opts.suite ?? (defs.length > 1 ? `suite-${Date.now().toString(36)}` : undefined);
        const resumed = opts.resume ? await resumeFrom(client, opts.resume, defs) : undefined;
        const guard = guardEnqueueFlags(opts, suite);
        const runs: { runId: string; def: ScenarioDef }[] = [];
        // GitHub attaches annotations to paths relative to the workspace.
        const fileOf = new Map<string, string>();
        for (const [i, def] of defs.entries()) {
          const { runId } = await client.enqueue(def, { input: { ...resumed?.input, ...input }, timeoutMs, suite, mock: opts.mock, resume: resumed?.resume, ...guard });
          runs.push({ runId, def });
          fileOf.set(runId, relative(process.env.GITHUB_WORKSPACE ?? process.cwd(), resolve(files[i])));
          process.stderr.write(`enqueued ${def.name} as ${runId}${suite ? ` (suite ${suite})` : ''}\n`);
        }
        if (!opts.wait) {
          const out = runs.map((r) => ({ runId: r.runId, scenario: r.def.name }));
          process.stdout.write(opts.json ? `${JSON.stringify(out.length === 1 ? out[0] : { suite, runs: out })}\n` : `${out.map((r) => r.runId).join('\n')}\n`);
          return;
        }
        const budgetWarnings: ScenarioEvent[] = [];
        const summaries = await waitAll(client, runs, budgetWarnings);
        printSummaries(summaries, { json: opts.json, suite });
        if (opts.junit) {
          await mkdir(dirname(opts.junit), { recursive: true });
          await writeFile(opts.junit, toJunitXml(summaries));
        }
        await publishCiReports(summaries, { json: opts.json, events: budgetWarnings, files: fileOf });
        if (opts.bundleDir) await writeFailureBundles(client, summaries, opts.bundleDir);
        process.exitCode = exitCodeOf(summaries);
      });
    });
}

