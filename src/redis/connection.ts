import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A standalone Redis or a Redis Cluster client; the engine treats both alike. */
export type RedisConnection = Redis | Cluster;

/** Redis could not be reached; the CLI exits 3 naming the URL. */
export class RedisUnavailableError extends Error {
  readonly url: string;
  constructor(url: string, cause?: unknown) {
    super(`Redis unreachable at ${redactUrl(url)}${cause instanceof Error ? `: ${cause.message}` : ''}`, { cause });
    this.name = 'RedisUnavailableError';
    this.url = url;
  }
}

/** Hides a password in a Redis URL before it is printed. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, (_, user: string) => `//${user}:***@`);
}

export interface ConnectOptions {
  /** How long the first connection may take before RedisUnavailableError. */
  readonly connectTimeoutMs?: number;
  readonly connectionName?: string;
}

/** Seed nodes and credentials of a Redis Cluster URL. */
export interface ClusterUrl {
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/;

/** True for `redis+cluster://` and `rediss+cluster://` URLs. */
export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//.test(url);
}

/**
 * Parses `redis+cluster://[user:password@]host:port[,host:port…]` (TLS: `rediss+cluster://`).
 * Any one reachable node is enough as a seed; the client discovers the others. Throws on a
 * malformed URL, naming what is wrong.
 */
export function parseClusterUrl(url: string): ClusterUrl {
  const m = CLUSTER_URL.exec(url);
  if (!m) throw new Error(`${redactUrl(url)}: expected redis+cluster://[user:password@]host:port[,host:port…]`);
  const [, scheme, user, password, hostList] = m;
  const nodes = hostList.split(',').map((entry) => {
    const node = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry.trim());
    const port = Number(node?.[2] ?? 6379);
    if (!node || port < 1 || port > 65535) throw new Error(`${redactUrl(url)}: bad cluster node "${entry}" (expected host:port)`);
    return { host: node[1].replace(/^\[|\]$/g, ''), port };
  });
  return {
    nodes,
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
    tls: scheme === 'rediss',
  };
}

function clusterClient(url: string, connectionName: string | undefined, retry: (times: number) => number | null): Cluster {
  const parsed = parseClusterUrl(url);
  const options: ClusterOptions = {
    lazyConnect: true,
    enableReadyCheck: true,
    clusterRetryStrategy: retry,
    redisOptions: {
      // BullMQ's blocking connections require it; commands wait out failovers instead of failing.
      maxRetriesPerRequest: null,
      connectionName,
      username: parsed.username,
      password: parsed.password,
      ...(parsed.tls ? { tls: {} } : {}),
    },
  };
  return new Cluster(parsed.nodes.map((n) => ({ host: n.host, port: n.port })), options);
}

/**
 * Opens a connection and waits until it answers. After the first success it reconnects
 * forever (workers and waiting CLIs ride out Redis restarts); before it, it fails fast.
 * A `redis+cluster://` URL opens an ioredis Cluster (use a hash-tagged prefix such as
 * `{sq}`, so every key of the engine and of BullMQ lands in one slot).
 */
export async function connectRedis(url: string, options: ConnectOptions = {}): Promise<RedisConnection> {
  let connectedOnce = false;
  const retry = (times: number) => (connectedOnce ? Math.min(times * 200, 2000) : times > 3 ? null : 200);
  const redis: RedisConnection = isClusterUrl(url)
    ? clusterClient(url, options.connectionName, retry)
    : new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: null,
        enableReadyCheck: true,
        connectionName: options.connectionName,
        retryStrategy: retry,
      } satisfies RedisOptions);
  redis.on('error', () => {
    // Reported through command failures and the retry strategy; an unhandled 'error' would crash.
  });
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs}ms`)), timeoutMs);
      }),
    ]);
    await redis.ping();
    connectedOnce = true;
    return redis;
  } catch (e) {
    redis.disconnect();
    throw new RedisUnavailableError(url, e);
  } finally {
    clearTimeout(timer);
  }
}

/** A second connection with the same settings (BullMQ workers need their own blocking one). */
export function duplicateConnection(redis: RedisConnection): RedisConnection {
  const dup = redis.duplicate();
  dup.on('error', () => {});
  return dup;
}
