/** Messages between the benchmark driver and a worker child (Node IPC). */
import { z } from 'zod';

export const SIDES = ['raw', 'raw-chain', 'sq'] as const;
export type Side = (typeof SIDES)[number];

/** Handed to the child in the BENCH_CHILD env var. */
export const ChildConfig = z.object({
  /** raw: BullMQ no-op jobs; raw-chain: each job adds the next; sq: a scenario-queue worker. */
  side: z.enum(SIDES),
  redisUrl: z.string().min(1),
  prefix: z.string().min(3),
  concurrency: z.number().int().min(1),
  /** raw-chain: jobs in the chain. */
  chainLength: z.number().int().min(1).default(1),
  /** sq: 'default' runs the worker's guardrails, 'open' passes OPEN_GUARD (the plain engine). */
  guard: z.enum(['default', 'open']).default('default'),
});
export type ChildConfig = z.infer<typeof ChildConfig>;

/** The BullMQ queue the raw sides use (scenario-queue uses its own STEP_QUEUE). */
export const RAW_QUEUE = 'raw';

/** Handler start and end (performance.now() in the child) of one chain link. */
export type Mark = [id: string, startMs: number, endMs: number];

export type ChildRequest =
  | { id: number; cmd: 'waitFor'; count: number }
  | { id: number; cmd: 'stats'; gc: boolean }
  | { id: number; cmd: 'marks' }
  | { id: number; cmd: 'close' };

/** What the child reports; `done` counts completed jobs (raw) or ended runs (sq). */
export interface ChildStats {
  done: number;
  /** Runs that ended other than succeeded (sq), or failed jobs (raw): a broken benchmark. */
  failed: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** C++ objects bound to JS (Buffers included). */
  externalBytes: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /**
   * CPU time of the main thread alone (Linux: /proc/self/task/<pid>/schedstat), µs; the rest of
   * cpuUser + cpuSystem is V8's helper threads: TurboFan compiling in a fresh worker, the
   * garbage collector's parallel work after. Absent elsewhere.
   */
  mainThreadCpuUs?: number;
  /** The main thread's event loop since the child started (performance.eventLoopUtilization), ms. */
  loopActiveMs: number;
  loopIdleMs: number;
}

export type ChildReply =
  | { id: 0; type: 'ready' }
  | { id: number; type: 'stats'; stats: ChildStats }
  | { id: number; type: 'marks'; marks: Mark[] }
  | { id: number; type: 'closed' }
  | { id: number; type: 'error'; message: string };
