/**
 * A TCP proxy in front of a harness-owned Redis, so a drill can make Redis unreachable for
 * its clients (connections reset, new ones refused) while Redis itself keeps running.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface RedisProxy {
  readonly url: string;
  /** Cuts every connection and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Starts a proxy on a free port that forwards to `port` on 127.0.0.1. */
export async function startRedisProxy(port: number): Promise<RedisProxy> {
  const open = new Set<Socket>();
  let reachable = true;
  const server: Server = createServer((client) => {
    if (!reachable) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    open.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const cut = () => {
    reachable = false;
    for (const socket of open) socket.destroy();
    open.clear();
  };
  return {
    url: `redis://127.0.0.1:${address.port}`,
    cut,
    restore() {
      reachable = true;
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
