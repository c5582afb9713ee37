import { Redis, type RedisOptions } from 'ioredis';

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

/**
 * Opens a connection and waits until it answers. After the first success it reconnects
 * forever (workers and waiting CLIs ride out Redis restarts); before it, it fails fast.
 */
export async function connectRedis(url: string, options: ConnectOptions = {}): Promise<Redis> {
  let connectedOnce = false;
  const opts: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: options.connectionName,
    retryStrategy: (times) => (connectedOnce ? Math.min(times * 200, 2000) : times > 3 ? null : 200),
  };
  const redis = new Redis(url, opts);
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
export function duplicateConnection(redis: Redis): Redis {
  const dup = redis.duplicate();
  dup.on('error', () => {});
  return dup;
}
