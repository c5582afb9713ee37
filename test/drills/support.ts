/**
 * What every drill gets: its own redis-server (killable, restartable), real worker
 * processes on it, a client, and helpers to build scenarios, wait and measure.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import type { ScenarioEvent, RunSummary } from '../../src/engine/types.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import type { ScenarioDef } from '../../src/scenario/types.ts';
import { BUILTIN_HANDLERS } from '../../src/handlers/builtin/index.ts';
import { startRedisServer, type OwnedRedis, type RedisServerOptions } from '../support/redis-server.ts';
import { startWorker, type WorkerOptions, type WorkerProcess } from '../support/workers.ts';

const exec = promisify(execFile);

/** A check that decides a drill's status. */
export interface DrillCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface Drill {
  readonly name: string;
  readonly description: string;
  /** Runs the drill, recording checks on `ctx`; resolves with the measured figures. */
  run(ctx: DrillContext): Promise<Record<string, unknown>>;
}

export const RECOVERY_HANDLERS = 'test/fixtures/handlers/recovery.ts';
export const PREFIX = 'drill';

/** Progress on stderr; stdout carries only the final JSON document. */
export function say(message: string): void {
  process.stderr.write(`[drills] ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` naming `what`, so a stuck drill fails instead of hanging the suite. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function until(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not true within ${ms}ms`);
    await sleep(50);
  }
}

/** Nearest-rank percentile of `values` (0..100). */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function scenario(yaml: string): ScenarioDef {
  return parseScenario(yaml, { knownHandlers: [...BUILTIN_HANDLERS.map((h) => h.name), 'spin', 'partial', 'paid-call'] });
}

/** A drill's resources; everything started through it is stopped by `dispose`. */
export class DrillContext {
  readonly checks: DrillCheck[] = [];
  private readonly controller = new AbortController();
  /** Aborted when the drill is over (or timed out): background loops must stop. */
  readonly signal = this.controller.signal;
  private readonly workers = new Set<WorkerProcess>();
  private readonly clients = new Set<ScenarioClient>();
  private readonly redisServers = new Set<OwnedRedis>();
  private readonly cleanups: (() => Promise<void>)[] = [];

  /** Records a check; the drill fails if any check is false. */
  check(name: string, ok: boolean, detail?: unknown): boolean {
    this.checks.push({ name, ok, ...(detail === undefined ? {} : { detail: typeof detail === 'string' ? detail : JSON.stringify(detail) }) });
    if (!ok) say(`  check failed: ${name}${detail === undefined ? '' : ` (${typeof detail === 'string' ? detail : JSON.stringify(detail)})`}`);
    return ok;
  }

  async redis(options: RedisServerOptions = {}): Promise<OwnedRedis> {
    const server = await startRedisServer(options);
    this.redisServers.add(server);
    return server;
  }

  async client(url: string): Promise<ScenarioClient> {
    const client = await createClient({ redisUrl: url, prefix: PREFIX });
    this.clients.add(client);
    return client;
  }

  async worker(url: string, options: Partial<WorkerOptions> = {}): Promise<WorkerProcess> {
    const worker = await startWorker({ redisUrl: url, prefix: PREFIX, concurrency: 4, handlers: RECOVERY_HANDLERS, ...options });
    this.workers.add(worker);
    void worker.exited.then(() => this.workers.delete(worker));
    return worker;
  }

  onDispose(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  /** Runs the CLI against `url` and returns its exit code and output. */
  async cli(url: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return exec(process.execPath, ['bin/scenario-queue.js', ...args], { env: { ...cleanEnv(), REDIS_URL: url, SQ_PREFIX: PREFIX, ...env }, timeout: 120_000 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
  }

  async dispose(): Promise<void> {
    this.controller.abort();
    for (const fn of this.cleanups.reverse()) await fn().catch(() => {});
    await Promise.all([...this.workers].map((w) => w.stop(5_000).catch(() => null)));
    for (const client of this.clients) await client.close().catch(() => {});
    await Promise.all([...this.redisServers].map((r) => r.stop().catch(() => {})));
  }
}

/** The environment of child processes, without a developer's own REDIS_URL / SQ_* settings. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'REDIS_URL' && !k.startsWith('SQ_')));
}

/** Every event of a run's stream. */
export async function runEvents(client: ScenarioClient, runId: string): Promise<ScenarioEvent[]> {
  const out: ScenarioEvent[] = [];
  for await (const e of client.events(runId)) out.push(e);
  return out;
}

/** How often each step's success was recorded: must be exactly once per step. */
export function successesPerStep(events: readonly ScenarioEvent[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) if (e.type === 'step.succeeded' && e.stepId) counts.set(e.stepId, (counts.get(e.stepId) ?? 0) + 1);
  return counts;
}

/** The common checks of a run that must succeed with every step recorded exactly once. */
export function checkCleanSuccess(ctx: DrillContext, summary: RunSummary, events: readonly ScenarioEvent[]): void {
  ctx.check('run succeeded', summary.status === 'succeeded', summary.status);
  const notSucceeded = summary.steps.filter((s) => s.status !== 'succeeded');
  ctx.check('no step lost (every step succeeded)', notSucceeded.length === 0, notSucceeded.slice(0, 5).map((s) => `${s.id}:${s.status}`));
  const counts = successesPerStep(events);
  const twice = [...counts].filter(([, n]) => n !== 1);
  ctx.check('each step.succeeded recorded exactly once', twice.length === 0 && counts.size === summary.steps.length, { steps: summary.steps.length, recorded: counts.size, twice: twice.slice(0, 5) });
}

/** True while a process with that pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function layeredScenario(name: string, n: number, width: number, step: (i: number) => string, maxParallel = width): ScenarioDef {
  return scenario(layeredYaml(name, n, width, step, maxParallel));
}

/** A layered DAG of `n` steps (each needs two steps of the layer before), ending in one join. */
export function layeredYaml(name: string, n: number, width: number, step: (i: number) => string, maxParallel = width): string {
  const lines = [`name: ${name}`, `maxParallel: ${maxParallel}`, 'steps:', `  - { id: s0, ${step(0)} }`];
  let previous = ['s0'];
  let layer: string[] = [];
  for (let i = 1; i < n - 1; i++) {
    const k = layer.length;
    const needs = [...new Set([previous[k % previous.length], previous[(k + 1) % previous.length]])];
    lines.push(`  - { id: s${i}, needs: [${needs.join(', ')}], ${step(i)} }`);
    layer.push(`s${i}`);
    if (layer.length === width || i === n - 2) {
      previous = layer;
      layer = [];
    }
  }
  lines.push(`  - { id: s${n - 1}, needs: [${previous.join(', ')}], uses: noop }`);
  return `${lines.join('\n')}\n`;
}
