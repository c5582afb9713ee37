import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis } from '../redis/connection.ts';

export interface DemoRedis {
  url: string;
  /** True when the demo started its own throwaway redis-server. */
  owned: boolean;
  stop(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  try {
    const r = await connectRedis(url, { connectTimeoutMs: 1500 });
    r.disconnect();
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** REDIS_URL (or the default) when reachable, else a throwaway redis-server on a free port. */
export async function provideDemoRedis(url: string): Promise<DemoRedis> {
  if (await reachable(url)) return { url, owned: false, stop: async () => {} };
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error(
      `no Redis at ${url} and no redis-server binary to start one; install it (apt-get install redis-server, brew install redis) or set REDIS_URL`,
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sq-demo-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const own = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await reachable(own)); i++) await new Promise((r) => setTimeout(r, 100));
  return {
    url: own,
    owned: true,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
