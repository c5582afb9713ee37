import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisServer, type OwnedRedis } from '../support/redis-server.ts';
import { isProcessAlive, trackedPids } from '../support/process-registry.ts';

const started: OwnedRedis[] = [];
async function start(options?: Parameters<typeof startRedisServer>[0]): Promise<OwnedRedis> {
  const server = await startRedisServer(options);
  started.push(server);
  return server;
}

async function withClient<T>(url: string, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.stop()));
});

describe('startRedisServer', () => {
  it('starts a private server on 127.0.0.1 without RDB saves', async () => {
    const server = await start();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(server.isRunning()).toBe(true);
    const save = await withClient(server.url, (client) => client.config('GET', 'save'));
    expect(save).toEqual(['save', '']);
    expect(trackedPids()).toContain(server.pid);
  });

  it('keeps AOF data across a SIGKILL and restart on the same port and dir', async () => {
    const server = await start({ appendonly: true });
    const firstPid = server.pid;
    await withClient(server.url, (client) => client.set('sqt-aof:k', 'survives'));
    await server.kill('SIGKILL');
    expect(server.isRunning()).toBe(false);
    expect(trackedPids()).not.toContain(firstPid);
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    expect(await withClient(server.url, (client) => client.get('sqt-aof:k'))).toBe('survives');
  });

  it('loses data across a restart without appendonly', async () => {
    const server = await start();
    await withClient(server.url, (client) => client.set('sqt-volatile:k', 'v'));
    await server.restart();
    expect(await withClient(server.url, (client) => client.get('sqt-volatile:k'))).toBeNull();
  });

  it('stop() ends the process and is idempotent', async () => {
    const server = await start();
    const pid = server.pid;
    await server.stop();
    await server.stop();
    expect(server.isRunning()).toBe(false);
    expect(isProcessAlive(pid)).toBe(false);
  });

  it('reports a server that cannot start with its log', async () => {
    await expect(startRedisServer({ args: ['--no-such-option', 'x'] })).rejects.toThrow(/exited during start[\s\S]*no-such-option/i);
  });

  it('does not outlive a test process that is SIGKILLed', async () => {
    const fixture = fileURLToPath(new URL('../support/fixtures/orphan-redis.ts', import.meta.url));
    const parent = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    const firstLine = await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once('line', resolve));
    const [pid] = firstLine.split(' ').map(Number);
    expect(isProcessAlive(pid)).toBe(true);
    parent.kill('SIGKILL');
    expect(await waitUntil(() => !isProcessAlive(pid), 5000)).toBe(true);
  });
});
