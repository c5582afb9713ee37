/**
 * In-process engine for integration tests: a client and N `createWorker` workers on one
 * Redis prefix, plus helpers to run a scenario to its end and read what it left behind.
 *
 *   const t = useTestRedis('engine-retries', { scope: 'file' });
 *   let engine: Engine;
 *   beforeAll(async () => { engine = await startEngine({ url: t.url, prefix: t.prefix }); });
 *   afterAll(() => engine?.close());
 */
import { pino, type Logger } from 'pino';
import { createClient, type EnqueueOptions, type ScenarioClient } from '../../src/client.ts';
import { createWorker, type ScenarioWorker } from '../../src/worker/worker.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { BUILTIN_HANDLERS } from '../../src/handlers/builtin/index.ts';
import type { HandlerDefinition } from '../../src/handlers/types.ts';
import type { AttemptGuard } from '../../src/worker/guard.ts';
import type { ScenarioDef } from '../../src/scenario/types.ts';
import type { RunSummary, ScenarioEvent, StepSummary } from '../../src/engine/types.ts';

/** Options for {@link startEngine}. */
export interface EngineOptions {
  readonly url: string;
  readonly prefix: string;
  /** In-process workers to start. @default 2 */
  readonly workers?: number;
  /** Per worker. @default 8 */
  readonly concurrency?: number;
  /** Custom handlers every worker gets. */
  readonly handlers?: readonly HandlerDefinition[];
  /** @default a silent logger */
  readonly logger?: Logger;
  /** A custom AttemptGuard for every worker (WorkerOptions.guard). */
  readonly guard?: AttemptGuard;
}

/** A finished run: its summary and every event of its stream, in order. */
export interface FinishedRun {
  readonly runId: string;
  readonly summary: RunSummary;
  readonly events: ScenarioEvent[];
  step(id: string): StepSummary;
}

export interface Engine {
  readonly client: ScenarioClient;
  readonly workers: ScenarioWorker[];
  /** Parses YAML (or JSON) against the built-ins and this engine's custom handlers. */
  scenario(text: string): ScenarioDef;
  /** Enqueues and waits for the verdict (bounded by `waitMs`, default 30 s). */
  run(def: ScenarioDef | string, options?: EnqueueOptions & { waitMs?: number }): Promise<FinishedRun>;
  /** Waits for a run enqueued earlier. */
  finish(runId: string, waitMs?: number): Promise<FinishedRun>;
  close(): Promise<void>;
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** Parses a scenario the way `validate` does, knowing the built-ins plus `handlers`. */
export function parseTestScenario(text: string, handlers: readonly HandlerDefinition[] = []): ScenarioDef {
  return parseScenario(text, { knownHandlers: [...BUILTIN_HANDLERS, ...handlers].map((h) => h.name) });
}

/** Rejects after `ms` with `what` in the message, so a hung run fails its test instead of the file. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Every event of a run's stream so far. */
export async function eventsOf(client: ScenarioClient, runId: string): Promise<ScenarioEvent[]> {
  const out: ScenarioEvent[] = [];
  for await (const event of client.events(runId)) out.push(event);
  return out;
}

/** Polls the run's stream until an event matches; returns it. */
export async function waitForEvent(client: ScenarioClient, runId: string, match: (e: ScenarioEvent) => boolean, timeoutMs = 20_000): Promise<ScenarioEvent> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = (await eventsOf(client, runId)).find(match);
    if (found) return found;
    if (Date.now() > until) throw new Error(`run ${runId}: no matching event within ${timeoutMs}ms`);
    await sleep(25);
  }
}

/** Polls `check` until it returns true. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what}: not true within ${timeoutMs}ms`);
    await sleep(25);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function finished(runId: string, summary: RunSummary, events: ScenarioEvent[]): FinishedRun {
  return {
    runId,
    summary,
    events,
    step(id) {
      const found = summary.steps.find((s) => s.id === id);
      if (!found) throw new Error(`run ${runId} has no step "${id}" (steps: ${summary.steps.map((s) => s.id).join(', ')})`);
      return found;
    },
  };
}

/** Starts a client and `workers` in-process workers on one prefix. */
export async function startEngine(options: EngineOptions): Promise<Engine> {
  const logger = options.logger ?? silentLogger;
  const handlers = options.handlers ?? [];
  const client = await createClient({ redisUrl: options.url, prefix: options.prefix });
  const workers: ScenarioWorker[] = [];
  try {
    for (let i = 0; i < (options.workers ?? 2); i++) {
      workers.push(
        await createWorker({
          redisUrl: options.url,
          prefix: options.prefix,
          concurrency: options.concurrency ?? 8,
          handlers,
          logger,
          shutdownGraceMs: 1_000,
          ...(options.guard ? { guard: options.guard } : {}),
        }),
      );
    }
  } catch (e) {
    await Promise.all(workers.map((w) => w.close()));
    await client.close();
    throw e;
  }

  async function finish(runId: string, waitMs = 30_000): Promise<FinishedRun> {
    const summary = await within(client.wait(runId), waitMs, `run ${runId}`);
    return finished(runId, summary, await eventsOf(client, runId));
  }

  return {
    client,
    workers,
    scenario: (text) => parseTestScenario(text, handlers),
    async run(def, runOptions = {}) {
      const { waitMs, ...enqueueOptions } = runOptions;
      const scenario = typeof def === 'string' ? parseTestScenario(def, handlers) : def;
      const { runId } = await client.enqueue(scenario, enqueueOptions);
      return finish(runId, waitMs);
    },
    finish,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await client.close();
    },
  };
}
