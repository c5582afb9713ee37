/**
 * The Redis a benchmark runs against: REDIS_URL (shared: only our prefixes are touched,
 * never FLUSHALL or CONFIG RESETSTAT) or a redis-server this process starts and owns.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRedisServer } from '../test/support/redis-server.ts';
import { cleanupPrefix, redactUrl } from '../test/support/redis.ts';
import { deleteLibraries } from '../src/redis/functions.ts';

/** Every measured side's key prefix: `sqb-` and 6 random characters. */
const BENCH_PREFIX_START = 'sqb-';

export interface BenchRedis {
  readonly url: string;
  /** True for the benchmark's own redis-server; false for REDIS_URL. */
  readonly owned: boolean;
  readonly version: string;
  /** A connection for INFO, MONITOR setup and cleanup (not used by the measured sides). */
  readonly admin: Redis;
  /** A fresh key prefix, `sqb-` and 6 random characters; its keys are removed by `clean` and at `close`. */
  prefix(): string;
  /** Removes what a measurement left: FLUSHALL on an owned server, the prefix's keys otherwise. */
  clean(prefix: string): Promise<void>;
  /** `INFO commandstats` as command → calls. */
  commandCalls(): Promise<Map<string, number>>;
  /** Seconds of CPU the server has used (user + sys), for per-step server cost. */
  cpuSeconds(): Promise<number>;
  close(): Promise<void>;
}

/** Parses `INFO` text into field → value. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

async function commandStat(admin: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [name, value] of parseInfo(await admin.info('commandstats'))) {
    const match = /(?:^|,)calls=(\d+)/.exec(value);
    if (name.startsWith('cmdstat_') && match) out.set(name.slice('cmdstat_'.length), Number(match[1]));
  }
  return out;
}

/** Opens REDIS_URL, or starts an owned redis-server when `url` is undefined. */
export async function openBenchRedis(url: string | undefined): Promise<BenchRedis> {
  const server = url ? undefined : await startRedisServer();
  const target = url ?? (server as NonNullable<typeof server>).url;
  const admin = new Redis(target, { maxRetriesPerRequest: null });
  const version = parseInfo(await admin.info('server')).get('redis_version') ?? 'unknown';
  const prefixes = new Set<string>();

  return {
    url: target,
    owned: server !== undefined,
    version,
    admin,
    prefix() {
      // Short, and one length for every side: each key of a step carries the prefix, and Redis
      // hashes and copies it. The 29-character prefixes used before cost raw BullMQ 2.6 % and us
      // 3.4 % of Redis instructions per step (docs/performance.md, How it measures); 10
      // characters is near BullMQ's default 'bull'.
      const p = `${BENCH_PREFIX_START}${randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(-6)}`;
      prefixes.add(p);
      return p;
    },
    async clean(prefix) {
      // FLUSHALL keeps Redis Function libraries: the workers' are named for their prefix.
      if (server) await Promise.all([admin.flushall(), deleteLibraries(admin, prefix)]);
      else await cleanupPrefix(target, prefix);
      prefixes.delete(prefix);
    },
    commandCalls: () => commandStat(admin),
    async cpuSeconds() {
      const info = parseInfo(await admin.info('cpu'));
      return Number(info.get('used_cpu_user') ?? 0) + Number(info.get('used_cpu_sys') ?? 0);
    },
    async close() {
      if (!server && prefixes.size > 0) await cleanupPrefix(target, [...prefixes]);
      admin.disconnect();
      await server?.stop();
    },
  };
}

export { redactUrl };
