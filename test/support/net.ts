/** Small network helpers for the harness: free ports and a dependency-free Redis PING. */
import { createServer, createConnection } from 'node:net';

/** Resolves true when `port` on 127.0.0.1 can be bound right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Asks the kernel for a currently free TCP port on 127.0.0.1. */
export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/**
 * A free port whose cluster-bus twin (`port + 10000`) is free too, as Redis Cluster
 * needs both. Picks from 20000–44999 so the twin stays below 65536.
 */
export async function getFreeClusterPort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if ((await isPortFree(port, host)) && (await isPortFree(port + 10_000, host))) return port;
  }
  throw new Error('no free port pair (p, p+10000) found for a Redis Cluster node after 200 tries');
}

/**
 * Sends one inline PING and resolves true only on `+PONG` (a server still loading its
 * AOF answers `-LOADING`, which counts as not ready).
 */
export function pingRedis(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}
