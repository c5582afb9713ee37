/**
 * Real `redis-server` processes owned by a test: started on a free port in a private
 * temp dir, stoppable, killable and restartable on the same port and dir (so an AOF
 * survives a crash), never outliving the test process.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { getFreeClusterPort, getFreePort, pingRedis } from './net.ts';
import { trackProcess, trackTempDir } from './process-registry.ts';

const HOST = '127.0.0.1';
const LOG_FILE = 'redis.log';
const execFileAsync = promisify(execFile);

/** Options for {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Append-only file with `appendfsync everysec`. @default false */
  readonly appendonly?: boolean;
  /** Port to bind; a free one is picked when omitted. */
  readonly port?: number;
  /** Data dir (AOF, logfile); a fresh temp dir, removed at process exit, when omitted. */
  readonly dir?: string;
  /** Extra `redis-server` arguments, appended last so they win. */
  readonly args?: readonly string[];
  /** How long to wait for PING to answer PONG (AOF loading included). @default 15000 */
  readonly startTimeoutMs?: number;
}

/** A redis-server process this test owns. */
export interface OwnedRedis {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** Pid of the most recently started process (changes on restart). */
  readonly pid: number;
  /** SIGTERM (Redis fsyncs its AOF), SIGKILL after 10 s; resolves once exited. */
  stop(): Promise<void>;
  /** Sends `signal`; for terminating signals resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the server if running and starts it again on the same port and dir. */
  restart(): Promise<void>;
  isRunning(): boolean;
}

class PortInUseError extends Error {}

const NON_TERMINATING: ReadonlySet<NodeJS.Signals> = new Set<NodeJS.Signals>(['SIGSTOP', 'SIGTSTP', 'SIGCONT', 'SIGUSR1', 'SIGUSR2', 'SIGHUP', 'SIGWINCH']);

interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
  done: boolean;
}

function serverArgs(port: number, dir: string, options: RedisServerOptions): string[] {
  return [
    '--port', String(port), '--bind', HOST, '--daemonize', 'no',
    '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no', '--appendfsync', 'everysec',
    '--dir', dir, '--logfile', join(dir, LOG_FILE),
    // Lets chaos tests use DEBUG SLEEP / DEBUG SEGFAULT; localhost only.
    '--enable-debug-command', 'local',
    ...(options.args ?? []),
  ];
}

async function logTail(dir: string, lines = 15): Promise<string> {
  const text = await readFile(join(dir, LOG_FILE), 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function launch(port: number, dir: string, options: RedisServerOptions): Promise<Running> {
  const child = spawn('redis-server', serverArgs(port, dir, options), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4000); });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn redis-server: ${(await spawnError).message} (is it installed? .ci/run installs it)`);
  const untrack = trackProcess(pid);
  const running: Running = {
    child, pid, done: false,
    exited: new Promise<void>((resolve) => child.once('exit', () => { running.done = true; untrack(); resolve(); })),
  };
  // A forgotten server must not keep the test process alive; the registry kills it at exit.
  child.unref();
  (child.stderr as unknown as Socket | null)?.unref();
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  while (!running.done) {
    if (await pingRedis(HOST, port)) return running;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await running.exited;
      throw new Error(`redis-server on ${HOST}:${port} did not answer PING within ${options.startTimeoutMs ?? 15_000}ms; log:\n${await logTail(dir)}`);
    }
    await sleep(25);
  }
  const log = `${stderr}\n${await logTail(dir)}`.trim();
  const message = `redis-server on ${HOST}:${port} exited during start (dir ${dir}):\n${log}`;
  throw /Address already in use/i.test(log) ? new PortInUseError(message) : new Error(message);
}

/** Spawns a real redis-server (127.0.0.1, no RDB saves, optional AOF) and waits for PONG. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<OwnedRedis> {
  let dir = options.dir;
  if (dir === undefined) {
    dir = await mkdtemp(join(tmpdir(), 'sqt-redis-'));
    trackTempDir(dir);
  } else {
    await mkdir(dir, { recursive: true });
  }
  let port = options.port ?? (await getFreePort());
  let current: Running | undefined;
  for (let attempt = 1; current === undefined; attempt++) {
    try {
      current = await launch(port, dir, options);
    } catch (error) {
      // Another process may grab a "free" port between probe and bind; only retry ours.
      if (!(error instanceof PortInUseError) || options.port !== undefined || attempt >= 5) throw error;
      port = await getFreePort();
    }
  }
  const dataDir = dir;
  let running: Running = current;

  const waitOrKill = async (graceMs: number): Promise<void> => {
    const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, graceMs, 'timeout').unref());
    if ((await Promise.race([running.exited, timer])) === 'timeout') {
      running.child.kill('SIGKILL');
      await running.exited;
    }
  };

  const owned: OwnedRedis = {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    dir: dataDir,
    get pid() { return running.pid; },
    isRunning: () => !running.done,
    async stop() {
      if (running.done) return;
      running.child.kill('SIGTERM');
      running.child.kill('SIGCONT'); // a SIGSTOPped server must wake up to see SIGTERM
      await waitOrKill(10_000);
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (running.done) return;
      running.child.kill(signal);
      if (!NON_TERMINATING.has(signal)) await running.exited;
    },
    async restart() {
      await owned.stop();
      running = await launch(port, dataDir, options);
    },
  };
  return owned;
}

/** A Redis Cluster of harness-owned masters. */
export interface OwnedRedisCluster {
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly servers: readonly OwnedRedis[];
  /** Stops every node. */
  stop(): Promise<void>;
}

async function startClusterNode(): Promise<OwnedRedis> {
  for (let attempt = 1; ; attempt++) {
    const port = await getFreeClusterPort();
    try {
      return await startRedisServer({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
      });
    } catch (error) {
      if (!(error instanceof PortInUseError) || attempt >= 5) throw error;
    }
  }
}

async function clusterStateOk(node: OwnedRedis): Promise<boolean> {
  const client = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined); // a node not up yet is just "not ok"
  try {
    await client.connect();
    const info = String(await client.call('CLUSTER', 'INFO'));
    return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384');
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Starts `n` (≥ 3) cluster-enabled redis-servers, joins them with
 * `redis-cli --cluster create … --cluster-replicas 0` and waits for `cluster_state:ok` on all.
 */
export async function startRedisCluster(n = 3, options: { readonly timeoutMs?: number } = {}): Promise<OwnedRedisCluster> {
  if (!Number.isInteger(n) || n < 3) throw new Error(`startRedisCluster needs n ≥ 3 masters, got ${n}`);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const started = await Promise.allSettled(Array.from({ length: n }, () => startClusterNode()));
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async (): Promise<void> => { await Promise.all(servers.map((server) => server.stop())); };
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  try {
    const addresses = servers.map((s) => `${s.host}:${s.port}`);
    await execFileAsync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: timeoutMs })
      .catch((error: Error & { stdout?: string }) => {
        // redis-cli reports cluster errors on stdout.
        throw new Error(`redis-cli --cluster create ${addresses.join(' ')} failed: ${error.message}\n${error.stdout ?? ''}`.trimEnd());
      });
    const deadline = Date.now() + timeoutMs;
    while (!(await Promise.all(servers.map(clusterStateOk))).every(Boolean)) {
      if (Date.now() > deadline) throw new Error(`Redis Cluster on ports ${servers.map((s) => s.port).join(',')} not cluster_state:ok after ${timeoutMs}ms`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: servers.map(({ host, port }) => ({ host, port })), servers, stop };
}
