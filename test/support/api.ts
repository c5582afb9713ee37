/**
 * A real `scenario-queue api` process for integration tests, on a free port, never left
 * running (tracked like the worker processes).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { trackProcess } from './process-registry.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO_ROOT, 'bin', 'scenario-queue.js');

export interface ApiProcessOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  /** Becomes SQ_API_TOKEN; absent means none (start with `--insecure` in `args`). */
  readonly token?: string;
  /** Extra arguments after `api --port 0`. */
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** @default 30000 */
  readonly readyTimeoutMs?: number;
}

export interface ApiProcess {
  readonly url: string;
  readonly pid: number;
  lines(): string[];
  stop(): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/** Spawns the API and resolves once it logs `api listening`; rejects with its output if it exits first. */
export async function startApi(options: ApiProcessOptions): Promise<ApiProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (key !== 'REDIS_URL' && !key.startsWith('SQ_')) env[key] = value;
  Object.assign(env, { REDIS_URL: options.redisUrl, SQ_PREFIX: options.prefix, SQ_LOG_LEVEL: 'info' }, options.token ? { SQ_API_TOKEN: options.token } : {}, options.env);
  const child = spawn(process.execPath, [CLI, 'api', '--port', '0', ...(options.args ?? [])], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the api process');
  const untrack = trackProcess(pid, { group: true });
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      lines.push(line);
      for (const w of watchers) w(line);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))).then((code) => {
    untrack();
    return code;
  });
  child.unref();
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api did not start within ${timeoutMs}ms:\n${lines.join('\n')}`)), timeoutMs);
    const watcher = (line: string) => {
      if (!line.includes('"api listening"')) return;
      clearTimeout(timer);
      watchers.delete(watcher);
      resolve((JSON.parse(line) as { port: number }).port);
    };
    watchers.add(watcher);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`api exited (code ${code}) before listening:\n${lines.join('\n')}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid,
    lines: () => [...lines],
    exited,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
