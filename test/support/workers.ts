/**
 * Real worker processes for integration tests: `node bin/scenario-queue.js worker`, each in
 * its own process group, output kept in memory for log assertions, never left running.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { trackProcess } from './process-registry.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO_ROOT, 'bin', 'scenario-queue.js');

/** Options for {@link startWorker} / {@link startWorkers}. */
export interface WorkerOptions {
  readonly redisUrl: string;
  /** Becomes `SQ_PREFIX`. */
  readonly prefix: string;
  /** `--concurrency N`. @default 1 */
  readonly concurrency?: number;
  /** `--handlers M` (module path, relative to the repo root or absolute). */
  readonly handlers?: string;
  /** Extra environment, applied last (may override REDIS_URL, SQ_PREFIX, SQ_LOG_LEVEL). */
  readonly env?: Readonly<Record<string, string>>;
  /** When set, each worker's full output is also written to `<logDir>/worker-<pid>.log`. */
  readonly logDir?: string;
  /** Script run instead of `bin/scenario-queue.js` (the harness's own tests use a fake). */
  readonly entry?: string;
  /** Extra CLI arguments after the built ones. */
  readonly args?: readonly string[];
  /** How long to wait for the `worker ready` log line. @default 30000 */
  readonly readyTimeoutMs?: number;
  /** Lines kept in memory per worker (oldest dropped first). @default 5000 */
  readonly maxLines?: number;
}

/** How a worker process ended. */
export interface WorkerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running worker child process. */
export interface WorkerProcess {
  readonly pid: number;
  /** `workerId` from the worker's `worker ready` log line. */
  readonly workerId: string;
  /** Every stdout and stderr line so far (the last `maxLines`), in arrival order. */
  lines(): string[];
  /** Resolves with the first line (already seen or future) matching `predicate`. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Sends `signal` to the worker's whole process group (a crash takes its children too). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM to the worker, SIGKILL to its group after `timeoutMs`; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  readonly exited: Promise<WorkerExit>;
}

const live = new Set<WorkerProcess>();

function workerEnv(options: WorkerOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // A developer's own SQ_* / REDIS_URL must not leak into the worker under test.
  for (const [key, value] of Object.entries(process.env)) {
    if (key !== 'REDIS_URL' && !key.startsWith('SQ_')) env[key] = value;
  }
  return { ...env, REDIS_URL: options.redisUrl, SQ_PREFIX: options.prefix, SQ_LOG_LEVEL: 'info', ...options.env };
}

function readyWorkerId(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown; workerId?: unknown };
    return record.msg === 'worker ready' && typeof record.workerId === 'string' ? record.workerId : undefined;
  } catch {
    return undefined;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Group already gone.
  }
}

/** Spawns one worker and resolves once it logs `worker ready`. */
export async function startWorker(options: WorkerOptions): Promise<WorkerProcess> {
  const args = [options.entry ?? CLI, 'worker', '--concurrency', String(options.concurrency ?? 1)];
  if (options.handlers !== undefined) args.push('--handlers', options.handlers);
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: workerEnv(options),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn worker: ${(await spawnError).message}`);
  const untrack = trackProcess(pid, { group: true });

  const maxLines = options.maxLines ?? 5000;
  const buffer: string[] = [];
  const watchers = new Set<(line: string) => void>();
  let file: WriteStream | undefined;
  if (options.logDir !== undefined) {
    mkdirSync(options.logDir, { recursive: true });
    file = createWriteStream(join(options.logDir, `worker-${pid}.log`), { flags: 'a' });
  }
  const onLine = (line: string): void => {
    buffer.push(line);
    if (buffer.length > maxLines) buffer.splice(0, buffer.length - maxLines);
    file?.write(`${line}\n`);
    for (const watcher of watchers) watcher(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (stream !== null) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
  }

  let hasExited = false;
  const exitedOnly = new Promise<WorkerExit>((resolve) =>
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    }));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = exitedOnly.then(async (exit) => {
    // Nothing the worker started may outlive it (and hold its pipes open).
    signalGroup(pid, 'SIGKILL');
    untrack();
    // 'close' means stdio is drained, so lines() is complete.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    file?.end();
    return exit;
  });
  // A test that forgets to stop a worker must not keep the test process alive; the
  // process registry kills it when this process exits.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as Socket | null)?.unref();

  const tail = (): string => buffer.slice(-20).join('\n') || '(no output)';
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  let workerId: string;
  try {
    workerId = await new Promise<string>((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); watchers.delete(watcher); };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`worker pid ${pid} did not log "worker ready" within ${readyTimeoutMs}ms; last output:\n${tail()}`));
      }, readyTimeoutMs);
      const watcher = (line: string): void => {
        const id = readyWorkerId(line);
        if (id !== undefined) { done(); resolve(id); }
      };
      watchers.add(watcher);
      void exited.then(({ code, signal }) => {
        done();
        reject(new Error(`worker pid ${pid} exited (code ${code}, signal ${signal}) before "worker ready"; last output:\n${tail()}`));
      });
      void spawnError.then((error) => { done(); reject(error); });
    });
  } catch (error) {
    signalGroup(pid, 'SIGKILL');
    await exited;
    throw error;
  }

  const worker: WorkerProcess = {
    pid,
    workerId,
    exited,
    lines: () => [...buffer],
    waitForLine(predicate, timeoutMs = 30_000) {
      const seen = buffer.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const done = (): void => { clearTimeout(timer); watchers.delete(watcher); };
        const timer = setTimeout(() => { done(); reject(new Error(`worker ${workerId} (pid ${pid}): no matching line within ${timeoutMs}ms; last output:\n${tail()}`)); }, timeoutMs);
        const watcher = (line: string): void => {
          if (predicate(line)) { done(); resolve(line); }
        };
        watchers.add(watcher);
      });
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!hasExited) signalGroup(pid, signal);
    },
    async stop(timeoutMs = 15_000) {
      if (!hasExited) {
        child.kill('SIGTERM');
        const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, timeoutMs, 'timeout').unref());
        if ((await Promise.race([exited, timer])) === 'timeout') signalGroup(pid, 'SIGKILL');
      }
      return (await exited).code;
    },
  };
  live.add(worker);
  void exited.then(() => live.delete(worker));
  return worker;
}

/** Starts `n` workers in parallel with the same options. */
export async function startWorkers(n: number, options: WorkerOptions): Promise<WorkerProcess[]> {
  const started = await Promise.allSettled(Array.from({ length: n }, () => startWorker(options)));
  const workers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(workers.map((worker) => worker.stop()));
    throw failed.reason;
  }
  return workers;
}

/** Stops every worker this process started and that is still running (use in afterAll). */
export async function stopAllWorkers(timeoutMs?: number): Promise<void> {
  await Promise.all([...live].map((worker) => worker.stop(timeoutMs)));
}
