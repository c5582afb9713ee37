/**
 * Runs `node bin/scenario-queue.js …` as a child process, the way CI would, and returns
 * its exit code and output. The caller's REDIS_URL / SQ_* never leak into the child.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trackProcess, trackTempDir } from './process-registry.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO_ROOT, 'bin', 'scenario-queue.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunCliOptions {
  /** Environment on top of the cleaned parent environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Killed (SIGKILL) after this long. @default 30000 */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /** Sees stdout as it arrives (to act while the command still runs). */
  readonly onStdout?: (soFar: string) => void;
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key !== 'REDIS_URL' && !key.startsWith('SQ_') && key !== 'GITHUB_ACTIONS') env[key] = value;
  }
  Object.assign(env, { SQ_LOG_LEVEL: 'warn' }, options.env);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const untrack = child.pid === undefined ? () => {} : trackProcess(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    options.onStdout?.(stdout);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      untrack();
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrack();
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A temp directory (removed when the test process exits) with `files` written into it. */
export function tempFiles(files: Readonly<Record<string, string>>): { dir: string; path(name: string): string } {
  const dir = mkdtempSync(join(tmpdir(), 'sq-cli-'));
  trackTempDir(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, path: (name) => join(dir, name) };
}

/** True when text looks like a JavaScript stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+(:\d+:\d+\)?|\(node:)/m.test(text);
}
