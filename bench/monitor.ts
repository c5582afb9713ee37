/**
 * Splits the commands Redis executes into those clients sent and those run inside Lua
 * scripts (INFO commandstats counts both alike), using MONITOR. Phases are delimited by
 * `ECHO bench-phase:<name>` markers, so attribution follows Redis's own execution order.
 */
import { Redis } from 'ioredis';

const MARK = 'bench-phase:';

export interface PhaseCounts {
  /** Commands sent by clients (including EVALSHA itself), by name. */
  client: Map<string, number>;
  /** Commands run by Lua scripts, by name. */
  lua: Map<string, number>;
  /** EVALSHA calls by script sha. */
  scripts: Map<string, number>;
}

const inc = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

export interface CommandMonitor {
  /** Starts a new phase once every command before this call has been counted. */
  phase(name: string): Promise<void>;
  counts(name: string): PhaseCounts;
  stop(): Promise<void>;
}

/** Starts MONITOR on its own connection; `marker` is the connection that sends the markers. */
export async function startMonitor(url: string, marker: Redis): Promise<CommandMonitor> {
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const monitor = await conn.monitor();
  const phases = new Map<string, PhaseCounts>();
  let current = 'before';
  const seen = new Map<string, () => void>();
  const bucket = (name: string) => {
    let b = phases.get(name);
    if (!b) phases.set(name, (b = { client: new Map(), lua: new Map(), scripts: new Map() }));
    return b;
  };
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const cmd = (args[0] ?? '').toLowerCase();
    if (cmd === 'echo' && args[1]?.startsWith(MARK)) {
      current = args[1].slice(MARK.length);
      seen.get(current)?.();
      return;
    }
    const b = bucket(current);
    if (source === 'lua') inc(b.lua, cmd);
    else {
      inc(b.client, cmd);
      if (cmd === 'evalsha' && args[1]) inc(b.scripts, args[1]);
      // The worker's fused completion as Redis Functions (src/redis/functions.ts).
      if (cmd === 'fcall' && args[1]) inc(b.scripts, `fcall:${args[1]}`);
    }
  });
  // MONITOR starts asynchronously: wait until our own marker comes through.
  await new Promise<void>((resolve) => {
    seen.set('before', resolve);
    void marker.echo(`${MARK}before`);
  });
  return {
    phase(name) {
      return new Promise<void>((resolve) => {
        seen.set(name, resolve);
        void marker.echo(`${MARK}${name}`);
      });
    },
    counts: (name) => bucket(name),
    async stop() {
      monitor.disconnect();
      conn.disconnect();
    },
  };
}
