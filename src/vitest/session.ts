/**
 * One test file's connection to scenario-queue: a client, and an in-process worker when the
 * worker policy asks for one. Opened on the first run, closed when the file is done.
 */
import { createClient, type ScenarioClient } from '../client.ts';
import { createWorker, type ScenarioWorker } from '../worker/worker.ts';
import { BUILTIN_HANDLERS } from '../handlers/builtin/index.ts';
import { loadHandlerModule } from '../handlers/load.ts';
import type { HandlerDefinition } from '../handlers/types.ts';
import { createLogger } from '../observability/logger.ts';
import type { ResolvedOptions } from './options.ts';

export interface Session {
  /** The file's options after the environment and defaults were applied. */
  readonly options: ResolvedOptions;
  readonly client: ScenarioClient;
  /** The in-process worker, when this file started one. */
  readonly worker?: ScenarioWorker;
  /** Handler names a scenario may use: built-ins, custom handlers, what live workers advertise. */
  knownHandlers(): Promise<Set<string>>;
  /** Credential names available to the run: this process's environment and live workers' adverts. */
  availableCredentials(): Promise<Set<string>>;
  close(): Promise<void>;
}

async function customHandlers(spec: ResolvedOptions['handlers']): Promise<readonly HandlerDefinition[]> {
  if (spec === undefined) return [];
  return typeof spec === 'string' ? loadHandlerModule(spec) : spec;
}

/** Connects and, per the worker policy, starts an in-process worker on the same prefix. */
export async function openSession(options: ResolvedOptions): Promise<Session> {
  const client = await createClient({ redisUrl: options.redisUrl, prefix: options.prefix });
  let worker: ScenarioWorker | undefined;
  try {
    const handlers = await customHandlers(options.handlers);
    const needWorker = options.worker === 'always' || (options.worker === 'auto' && (await client.liveWorkers()).length === 0);
    if (needWorker) {
      worker = await createWorker({
        redisUrl: options.redisUrl,
        prefix: options.prefix,
        concurrency: options.concurrency,
        handlers,
        // Test output stays readable: only problems of the worker reach stderr.
        logger: createLogger({ level: process.env.SQ_LOG_LEVEL ?? 'warn', destination: 2 }),
        shutdownGraceMs: 5_000,
      });
    }
    const custom = handlers.map((h) => h.name);
    return {
      options,
      client,
      worker,
      async knownHandlers() {
        const advertised = (await client.liveWorkers()).flatMap((w) => w.handlers);
        return new Set([...BUILTIN_HANDLERS.map((h) => h.name), ...custom, ...advertised]);
      },
      async availableCredentials() {
        const local = Object.entries(process.env).filter(([, v]) => v !== undefined && v !== '').map(([k]) => k);
        const advertised = (await client.liveWorkers()).flatMap((w) => w.credentials);
        return new Set([...local, ...advertised]);
      },
      async close() {
        await worker?.close();
        await client.close();
      },
    };
  } catch (e) {
    await worker?.close();
    await client.close();
    throw e;
  }
}
