/**
 * SPEC §15, GitHub Actions: `run --wait` under GITHUB_ACTIONS appends the Markdown summary to
 * $GITHUB_STEP_SUMMARY and prints ::error / ::warning workflow commands attached to the file.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/context.ts';
import { startWorkers, stopAllWorkers } from '../support/workers.ts';
import { startHttpTarget, type HttpTarget } from '../support/http-target.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(REPO_ROOT, 'bin', 'scenario-queue.js');
const t = useTestRedis('cli-gha', { scope: 'file' });
let dir: string;
let target: HttpTarget;

const SCENARIO = `
name: gha-report
budget: { calls: 1, onExceed: warn }
input: { baseUrl: "http://127.0.0.1:1" }
steps:
  - id: call-1
    uses: http
    with: { url: "{{ input.baseUrl }}/json" }
  - id: call-2
    uses: http
    needs: [call-1]
    with: { url: "{{ input.baseUrl }}/json" }
  - id: flaky
    uses: fault
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 50, jitter: none } }
    with: { failTimes: 1, kind: server_error, message: "HTTP 503" }
  - id: slow
    uses: sleep
    with: { ms: 1500 }
  - id: optional
    uses: fault
    continueOnError: true
    with: { failTimes: 5, kind: client_error, message: "HTTP 404 from the optional service" }
  - id: verify
    uses: assert
    needs: [flaky, slow]
    with: { that: "1 == 2" }
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sqt-gha-'));
  target = await startHttpTarget();
  await writeFile(join(dir, 'gha-report.yaml'), SCENARIO);
  await startWorkers(1, { redisUrl: t.url, prefix: t.prefix, concurrency: 4 });
});
afterAll(async () => {
  await stopAllWorkers();
  await target?.close();
  await rm(dir, { recursive: true, force: true });
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a GitHub Actions step would: workspace = `dir`, a fresh step-summary file. */
function runInActions(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: dir,
        env: {
          ...process.env,
          REDIS_URL: t.url,
          SQ_PREFIX: t.prefix,
          GITHUB_ACTIONS: 'true',
          GITHUB_WORKSPACE: dir,
          GITHUB_STEP_SUMMARY: join(dir, 'step-summary.md'),
        },
        timeout: 40_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('run --wait inside GitHub Actions', () => {
  it('writes the step summary and annotates failures, continued steps and budget warnings', async () => {
    await writeFile(join(dir, 'step-summary.md'), '# earlier step\n');
    // Two http calls against `budget: { calls: 1, onExceed: warn }`: the guardrails let the second
    // one through and emit budget.warning, which the CLI must turn into ::warning.
    const result = await runInActions(['run', 'gha-report.yaml', '--wait', '--input', `baseUrl=${target.url}`]);
    expect(result.code).toBe(1);

    const summary = await readFile(join(dir, 'step-summary.md'), 'utf8');
    expect(summary.startsWith('# earlier step\n')).toBe(true); // appended, never overwritten
    expect(summary).toContain('## gha-report');
    expect(summary).toMatch(/\*\*FAILED\*\* · run `gha-report-[^`]+`/);
    expect(summary).toContain('| Step | Status | Attempts | Duration | Details |');
    expect(summary).toMatch(/\| verify \| \*\*FAILED\*\* \| 1 \|/);
    expect(summary).toMatch(/\| flaky \| succeeded \| 2 \|/);
    expect(summary).toContain('Retries (1):');
    expect(summary).toMatch(/ · \\\$0\.0000, 2 calls · steps: 4 passed, 1 failed, 0 skipped, 1 continued/);

    const lines = result.stdout.split('\n');
    const errors = lines.filter((l) => l.startsWith('::error '));
    const warnings = lines.filter((l) => l.startsWith('::warning '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^::error file=gha-report\.yaml,title=gha-report \/ verify failed::assertion: /);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^::warning file=gha-report\.yaml,title=gha-report \/ optional failed \(continueOnError\)::client_error: HTTP 404/);
    expect(warnings[1]).toMatch(/^::warning file=gha-report\.yaml,title=gha-report budget warning::step call-2: budget limit reached \(onExceed: warn\) \(.*resource=calls, scope=run.*limit=1\)$/);
  });

  it('keeps stdout pure JSON with --json: annotations go to stderr', async () => {
    await writeFile(join(dir, 'step-summary.md'), '');
    const result = await runInActions(['run', 'gha-report.yaml', '--wait', '--json', '--input', `baseUrl=${target.url}`]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ scenario: 'gha-report', status: 'failed' });
    expect(result.stderr).toMatch(/^::error file=gha-report\.yaml,/m);
    expect(await readFile(join(dir, 'step-summary.md'), 'utf8')).toContain('## gha-report');
  });

  it('writes nothing to the step summary outside GitHub Actions', async () => {
    await writeFile(join(dir, 'step-summary.md'), '');
    const result = await new Promise<CliResult>((resolve) =>
      execFile(
        process.execPath,
        [CLI, 'run', 'gha-report.yaml', '--wait', '--input', `baseUrl=${target.url}`],
        { cwd: dir, env: { ...process.env, REDIS_URL: t.url, SQ_PREFIX: t.prefix, GITHUB_ACTIONS: '', GITHUB_STEP_SUMMARY: join(dir, 'step-summary.md') } },
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('::error');
    expect(await readFile(join(dir, 'step-summary.md'), 'utf8')).toBe('');
  });
});
