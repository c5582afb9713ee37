/** Starts and drives a worker child (bench/worker-process.ts) over Node IPC. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trackProcess } from '../test/support/process-registry.ts';
import { childNodeArgs } from './options.ts';
import type { ChildConfig, ChildReply, ChildRequest, ChildStats, Mark } from './protocol.ts';

const ENTRY = fileURLToPath(new URL('./worker-process.ts', import.meta.url));
const READY_TIMEOUT_MS = 60_000;

export interface BenchChild {
  readonly pid: number;
  /** Resolves with the child's stats once `done` reaches `count`. */
  waitFor(count: number, timeoutMs: number): Promise<ChildStats>;
  /** Current stats; with `gc`, after two forced collections (needs `exposeGc`). */
  stats(gc?: boolean): Promise<ChildStats>;
  marks(): Promise<Mark[]>;
  /** Closes the worker gracefully, then makes sure the process is gone. */
  close(): Promise<void>;
}

type ChildRequestBody = ChildRequest extends infer R ? (R extends ChildRequest ? Omit<R, 'id'> : never) : never;

/** Spawns a child with `config` and waits until its worker is ready. */
export async function startChild(
  config: Omit<ChildConfig, 'chainLength' | 'guard'> & Partial<Pick<ChildConfig, 'chainLength' | 'guard'>>,
  options: { exposeGc?: boolean; /** Run the worker of another checkout. */ tree?: string } = {},
): Promise<BenchChild> {
  const entry = options.tree ? resolve(options.tree, 'bench/worker-process.ts') : ENTRY;
  // BENCH_CHILD_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the workers.
  const extra = childNodeArgs();
  const child = spawn(process.execPath, [...extra, ...(options.exposeGc ? ['--expose-gc'] : []), '--import', 'tsx', entry], {
    env: { ...process.env, BENCH_CHILD: JSON.stringify(config) },
    // stdout belongs to the driver's JSON document: the child's output goes to stderr.
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  child.stdout?.pipe(process.stderr);
  const pid = child.pid as number;
  const untrack = trackProcess(pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(untrack, untrack);

  let nextId = 1;
  const pending = new Map<number, { resolve: (reply: ChildReply) => void; reject: (e: Error) => void }>();
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });
  child.on('message', (reply: ChildReply) => {
    if (reply.type === 'ready') return readyResolve();
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.type === 'error') waiter?.reject(new Error(`bench child ${pid}: ${reply.message}`));
    else waiter?.resolve(reply);
  });
  exited.then(() => {
    for (const w of pending.values()) w.reject(new Error(`bench child ${pid} exited (code ${child.exitCode}, signal ${child.signalCode})`));
    pending.clear();
  });

  function request(body: ChildRequestBody, timeoutMs = 30_000): Promise<ChildReply> {
    const id = nextId++;
    return new Promise<ChildReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`bench child ${pid}: no answer to ${body.cmd} within ${timeoutMs}ms`));
      }, timeoutMs);
      const settle = <T>(fn: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        fn(v);
      };
      pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      child.send({ ...body, id } as ChildRequest);
    });
  }

  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };

  const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, READY_TIMEOUT_MS, 'timeout').unref());
  const first = await Promise.race([ready.then(() => 'ready' as const), exited.then(() => 'exited' as const), timeout]);
  if (first !== 'ready') {
    await kill();
    throw new Error(`bench child (${config.side}) ${first === 'exited' ? `exited with code ${child.exitCode}` : `not ready within ${READY_TIMEOUT_MS}ms`}`);
  }

  const statsOf = (reply: ChildReply): ChildStats => {
    if (reply.type !== 'stats') throw new Error(`bench child ${pid}: expected stats, got ${reply.type}`);
    return reply.stats;
  };

  return {
    pid,
    async waitFor(count, timeoutMs) {
      try {
        return statsOf(await request({ cmd: 'waitFor', count }, timeoutMs));
      } catch (e) {
        const now = await request({ cmd: 'stats', gc: false }, 5_000).then(statsOf, () => undefined);
        throw new Error(`${(e as Error).message} (waiting for ${count}, done ${now?.done ?? '?'}, failed ${now?.failed ?? '?'})`);
      }
    },
    async stats(gc = false) {
      return statsOf(await request({ cmd: 'stats', gc }));
    },
    async marks() {
      const reply = await request({ cmd: 'marks' });
      if (reply.type !== 'marks') throw new Error(`bench child ${pid}: expected marks, got ${reply.type}`);
      return reply.marks;
    },
    async close() {
      await request({ cmd: 'close' }, 15_000).catch(() => undefined);
      const late = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(late);
    },
  };
}
