import { hostname } from 'node:os';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';

export const HEARTBEAT_INTERVAL_MS = 5_000;
/** A worker silent for this long is not live (SPEC §15 triage hint). */
export const LIVE_WINDOW_MS = 30_000;

/** What a worker advertises: names only, never credential values (SPEC §10). */
export interface WorkerInfo {
  workerId: string;
  hostname: string;
  pid: number;
  concurrency: number;
  startedAt: number;
  lastSeen: number;
  handlers: string[];
  credentials: string[];
  inflight: number;
  /** Redis Function libraries the worker calls (src/redis/functions.ts); refreshed as used with each beat. */
  functions?: string[];
}

/** Publishes the worker's heartbeat every few seconds until stopped. */
export function startHeartbeat(redis: RedisConnection, keys: Keys, info: () => Omit<WorkerInfo, 'lastSeen' | 'hostname' | 'pid'>) {
  const beat = async () => {
    const now = Date.now();
    const data: WorkerInfo = { ...info(), hostname: hostname(), pid: process.pid, lastSeen: now };
    const tx = redis
      .multi()
      .zadd(keys.workers, now, data.workerId)
      .set(keys.worker(data.workerId), JSON.stringify(data), 'PX', LIVE_WINDOW_MS * 2)
      .zremrangebyscore(keys.workers, 0, now - LIVE_WINDOW_MS * 10);
    if (data.functions?.length) tx.hset(keys.functions, ...data.functions.flatMap((name) => [name, now]));
    await tx.exec();
  };
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    timer = setTimeout(() => {
      beat().catch(() => {}).finally(loop);
    }, HEARTBEAT_INTERVAL_MS);
    timer.unref();
  };
  const first = beat();
  loop();
  return {
    first,
    async stop(workerId: string) {
      clearTimeout(timer);
      await redis.multi().zrem(keys.workers, workerId).del(keys.worker(workerId)).exec().catch(() => {});
    },
  };
}

/** Workers that sent a heartbeat within the live window. */
export async function liveWorkers(redis: RedisConnection, keys: Keys, now = Date.now()): Promise<WorkerInfo[]> {
  const ids = await redis.zrangebyscore(keys.workers, now - LIVE_WINDOW_MS, '+inf');
  if (ids.length === 0) return [];
  const raw = await redis.mget(...ids.map((id) => keys.worker(id)));
  return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as WorkerInfo);
}
