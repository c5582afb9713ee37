/**
 * Keeps child processes started by the test harness from outliving the process that
 * started them.
 *
 * Two layers, because neither is enough alone:
 * - an `exit` handler SIGKILLs every tracked process when this process exits normally
 *   (vitest forks usually do);
 * - a tiny detached watchdog process holds the read end of a pipe from us; when we die
 *   for any reason (SIGKILL from a timed-out pool, a crash, Ctrl-C) the pipe closes and the
 *   watchdog SIGKILLs whatever is still tracked, then exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';

interface Tracked {
  /** Kill the whole process group (`-pid`) rather than the single process. */
  readonly group: boolean;
}

const tracked = new Map<number, Tracked>();
const tempDirs = new Set<string>();
let exitHandlerInstalled = false;
let watchdog: ChildProcess | undefined;

// Runs in the watchdog: reads "+ <pid> <g|p>" / "- <pid>" lines; on EOF kills what is left.
const WATCHDOG_SOURCE = `
const live = new Map();
let buf = '';
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
const reap = () => {
  for (const [pid, group] of live) { try { process.kill(group ? -pid : pid, 'SIGKILL'); } catch {} }
  process.exit(0);
};
process.stdin.on('data', (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const [op, pid, kind] = buf.slice(0, i).split(' ');
    buf = buf.slice(i + 1);
    if (op === '+') live.set(Number(pid), kind === 'g'); else live.delete(Number(pid));
  }
});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
`;

function killQuietly(pid: number, entry: Tracked): void {
  try {
    process.kill(entry.group ? -pid : pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function onExit(): void {
  for (const [pid, entry] of tracked) killQuietly(pid, entry);
  tracked.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', onExit);
}

function tellWatchdog(line: string): void {
  if (watchdog === undefined) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    // Neither the watchdog nor its pipe may keep this process alive.
    watchdog.unref();
    (watchdog.stdin as unknown as Socket | null)?.unref();
  }
  watchdog.stdin?.write(`${line}\n`);
}

/**
 * Tracks a child process so it is SIGKILLed if this process exits or dies first.
 * `group: true` kills the whole process group (the child must be spawned `detached`).
 * Returns a function that stops tracking it (call it once the child has exited).
 */
export function trackProcess(pid: number, options: { readonly group?: boolean } = {}): () => void {
  installExitHandler();
  const entry: Tracked = { group: options.group ?? false };
  tracked.set(pid, entry);
  tellWatchdog(`+ ${pid} ${entry.group ? 'g' : 'p'}`);
  return () => {
    if (tracked.get(pid) !== entry) return;
    tracked.delete(pid);
    tellWatchdog(`- ${pid}`);
  };
}

/** Removes a harness-created temporary directory when this process exits. */
export function trackTempDir(dir: string): void {
  installExitHandler();
  tempDirs.add(dir);
}

/** Pids of the processes currently tracked (for leak assertions in tests). */
export function trackedPids(): number[] {
  return [...tracked.keys()];
}

/** True while `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat is the state; the comm before it may contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
