/**
 * Where tests get their Redis from, and how each test keeps to its own keys.
 *
 * Order: `SQ_TEST_REDIS_URL` (shared, never flushed) → a testcontainers Redis when a
 * container runtime answers → a `redis-server` process started here.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRedisServer } from './redis-server.ts';
import { deleteLibraries } from '../../src/redis/functions.ts';

/** A Redis for the test run and who is responsible for it. */
export interface ProvidedRedis {
  readonly url: string;
  /** True when the harness started it (and may therefore do anything to it). */
  readonly owned: boolean;
  readonly source: 'env' | 'testcontainers' | 'redis-server';
  /** Stops what the harness started; a no-op for `env`. */
  stop(): Promise<void>;
}

/** Options for {@link provideRedis}. */
export interface ProvideRedisOptions {
  /** Environment to read `SQ_TEST_REDIS_URL` from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Skip the container runtime probe and go straight to redis-server. @default false */
  readonly skipContainers?: boolean;
  /** Upper bound for the container runtime probe. @default 3000 */
  readonly runtimeProbeTimeoutMs?: number;
  /** Image used with testcontainers. @default 'redis:7-alpine' */
  readonly image?: string;
}

/** Hides a password in a Redis URL so it can go into a message. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}

async function assertReachable(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined); // surfaced by connect()/ping() below
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(`SQ_TEST_REDIS_URL=${redactUrl(url)} is not reachable: ${(error as Error).message}`);
  } finally {
    client.disconnect();
  }
}

/**
 * Resolves with why no container runtime is usable (testcontainers' own probe, bounded by
 * `timeoutMs`), or undefined when one answers.
 */
export async function containerRuntimeMissing(timeoutMs = 3000): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, `no answer within ${timeoutMs}ms`);
  });
  const probe = import('testcontainers')
    .then(({ getContainerRuntimeClient }) => getContainerRuntimeClient())
    .then(() => undefined, (error: unknown) => (error instanceof Error ? error.message : String(error)));
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function fromRedisServer(): Promise<ProvidedRedis> {
  const server = await startRedisServer();
  return { url: server.url, owned: true, source: 'redis-server', stop: () => server.stop() };
}

/** Provides one Redis for a test run: env URL, else testcontainers, else a redis-server process. */
export async function provideRedis(options: ProvideRedisOptions = {}): Promise<ProvidedRedis> {
  const envUrl = (options.env ?? process.env).SQ_TEST_REDIS_URL;
  if (envUrl !== undefined && envUrl !== '') {
    await assertReachable(envUrl);
    return { url: envUrl, owned: false, source: 'env', stop: async () => undefined };
  }
  if (options.skipContainers) return fromRedisServer();
  const missing = await containerRuntimeMissing(options.runtimeProbeTimeoutMs ?? 3000);
  if (missing !== undefined) {
    process.stderr.write(`[test-harness] no container runtime (${missing}); starting a local redis-server instead\n`);
    return fromRedisServer();
  }
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer(options.image ?? 'redis:7-alpine').start();
    return {
      url: container.getConnectionUrl(),
      owned: true,
      source: 'testcontainers',
      stop: async () => { await container.stop(); },
    };
  } catch (error) {
    process.stderr.write(`[test-harness] testcontainers could not start Redis (${(error as Error).message}); starting a local redis-server instead\n`);
    return fromRedisServer();
  }
}

/** A key prefix owned by one test: `sqt-<label>-<random6>`, no ':' and no braces. */
export function uniquePrefix(label: string): string {
  const safe = label.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'test';
  return `sqt-${safe}-${randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(-6)}`;
}

/** An ioredis client suited to tests and BullMQ (`maxRetriesPerRequest: null`). */
export function redisClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Regexp for keys owned by a prefix: the prefix alone, or followed by a character that
 * cannot continue a prefix (`sqt-a-x1y2z3:run`, `sqt-a-x1y2z3.lock`), optionally hash-tagged
 * (`{sqt-a-x1y2z3}:…`). `sqt-a-x1y2z3-other` is someone else's.
 */
function ownedKeyPattern(prefixes: readonly string[]): RegExp {
  const alternatives = prefixes.map(escapeRegExp).join('|');
  return new RegExp(`^(?:\\{(?:${alternatives})\\}|(?:${alternatives})(?:$|[^A-Za-z0-9_-]))`);
}

/**
 * Deletes every key of one or more prefixes (SCAN + UNLINK in batches), leaving keys of
 * any other prefix alone. Safe on a shared Redis. Returns how many keys were removed.
 */
export async function cleanupPrefix(url: string, prefix: string | readonly string[]): Promise<number> {
  const prefixes = typeof prefix === 'string' ? [prefix] : [...prefix];
  if (prefixes.length === 0) return 0;
  if (prefixes.some((p) => p.length < 3)) throw new Error(`cleanupPrefix refuses a prefix shorter than 3 characters: ${JSON.stringify(prefixes)}`);
  const owned = ownedKeyPattern(prefixes);
  // One pattern per prefix would mean one full keyspace walk each; one walk filters them all.
  const match = prefixes.length === 1 ? `*${escapeGlob(prefixes[0])}*` : '*';
  const client = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true });
  client.on('error', () => undefined); // surfaced by the commands below
  let removed = 0;
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      const mine = keys.filter((key) => owned.test(key));
      for (let i = 0; i < mine.length; i += 500) removed += await client.unlink(...mine.slice(i, i + 500));
    } while (cursor !== '0');
    // The workers' Redis Function libraries are named for their prefix (src/redis/functions.ts).
    for (const p of prefixes) await deleteLibraries(client, p);
  } finally {
    client.disconnect();
  }
  return removed;
}
