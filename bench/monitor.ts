/**
 * Splits the commands Redis executes into those clients sent and those run inside Lua
 * scripts (INFO commandstats counts both alike), using MONITOR. Phases are delimited by
 * `ECHO bench-phase:<name>` markers, so attribution follows Redis's own execution order.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Redis } from 'ioredis';

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

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' };

/** Quoted arguments of a MONITOR line, Redis's escapes undone (`\"`, `\\`, `\n`, `\xNN`, ...). */
function monitorArgs(rest: string): string[] {
  return [...rest.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    m[1].replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (ESCAPES[e] ?? e))),
  );
}

/** `+<time> [<db> <source>] "cmd" "arg" ...`: source is `lua` for commands a script ran. */
const LINE = /^\+\S+ \[\d+ ([^\]]+)\] (.*)$/;

/**
 * Starts MONITOR on a socket of its own; `marker` is the connection that sends the markers.
 * Not ioredis's `monitor()`: it enters monitoring mode a microtask after MONITOR's `+OK`, so
 * on a busy server the lines that arrive in the same read as the `+OK` fail with "Command
 * queue state error" (seen in CI on the shared test Redis).
 */
export async function startMonitor(url: string, marker: Redis): Promise<CommandMonitor> {
  const target = new URL(url);
  const port = Number(target.port || 6379);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const socket = target.protocol === 'rediss:' ? tlsConnect({ host, port, servername: host }) : connect({ host, port });
  await once(socket, target.protocol === 'rediss:' ? 'secureConnect' : 'connect');
  const user = decodeURIComponent(target.username), password = decodeURIComponent(target.password);
  const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  if (password) socket.write(user ? command('AUTH', user, password) : command('AUTH', password));
  socket.write(command('MONITOR'));

  const phases = new Map<string, PhaseCounts>();
  let current = 'before';
  const seen = new Map<string, () => void>();
  let failed: ((e: Error) => void) | undefined;
  const bucket = (name: string) => {
    let b = phases.get(name);
    if (!b) phases.set(name, (b = { client: new Map(), lua: new Map(), scripts: new Map() }));
    return b;
  };
  // MONITOR's +OK (after AUTH's): from then on every command is fed to us.
  let oksLeft = password ? 2 : 1;
  let monitoring: (() => void) | undefined;
  const onLine = (line: string) => {
    if (line.startsWith('-')) return failed?.(new Error(`MONITOR on ${target.host}: ${line.slice(1)}`));
    if (line === '+OK' && oksLeft > 0) {
      if (--oksLeft === 0) monitoring?.();
      return;
    }
    const m = LINE.exec(line);
    if (!m) return;
    const args = monitorArgs(m[2]);
    const cmd = (args[0] ?? '').toLowerCase();
    if (cmd === 'echo' && args[1]?.startsWith(MARK)) {
      current = args[1].slice(MARK.length);
      seen.get(current)?.();
      return;
    }
    const b = bucket(current);
    if (m[1] === 'lua') inc(b.lua, cmd);
    else {
      inc(b.client, cmd);
      if (cmd === 'evalsha' && args[1]) inc(b.scripts, args[1]);
      // The worker's fused completion as Redis Functions (src/redis/functions.ts).
      if (cmd === 'fcall' && args[1]) inc(b.scripts, `fcall:${args[1]}`);
    }
  };
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    const lines = (buffered + chunk.toString('latin1')).split('\r\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  socket.on('error', (e) => failed?.(e));
  // The marker goes once MONITOR has answered: sent before, on its own connection, it could
  // run first, never be fed to us, and leave this waiting for ever (seen in CI under load).
  await new Promise<void>((resolve, reject) => {
    failed = reject;
    seen.set('before', resolve);
    monitoring = () => void marker.echo(`${MARK}before`);
    if (oksLeft === 0) monitoring();
  });
  failed = undefined;
  return {
    phase(name) {
      return new Promise<void>((resolve) => {
        seen.set(name, resolve);
        void marker.echo(`${MARK}${name}`);
      });
    },
    counts: (name) => bucket(name),
    async stop() {
      socket.destroy();
    },
  };
}
