/**
 * Guardrails as a worker runs them: the attempt guard, the services cache (pricing), a
 * control-channel subscription that refreshes policies and reacts to `halt` at once, and
 * the sweep that ends halted runs whose in-flight attempts have finished.
 */
import type { Logger } from 'pino';
import { duplicateConnection, type RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { RunStore } from '../engine/store.ts';
import type { ScenarioEvent } from '../engine/types.ts';
import type { HandlerRegistry } from '../handlers/registry.ts';
import type { AttemptGuard } from '../worker/guard.ts';
import { createGuardrails } from './attempt-guard.ts';
import { listHalts, sweepHaltedRuns } from './halt.ts';
import { createServicesCache } from './services-store.ts';

export interface WorkerGuardrailsOptions {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly store: RunStore;
  readonly registry: HandlerRegistry;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly log: Logger;
  readonly onEvent?: (event: ScenarioEvent) => void;
  /** How often halted runs are swept and the services version polled. @default 1000 */
  readonly pollMs?: number;
}

export interface WorkerGuardrails {
  readonly guard: AttemptGuard;
  stop(): Promise<void>;
}

/** Starts the guardrails of one worker process. */
export async function startWorkerGuardrails(options: WorkerGuardrailsOptions): Promise<WorkerGuardrails> {
  const { redis, keys, store, log } = options;
  const pollMs = options.pollMs ?? 1_000;
  const services = await createServicesCache(redis, keys, { pollMs, onError: (err) => log.warn({ err }, 'services refresh failed') });

  /** One worker per interval ends the halted runs that have nothing running any more. */
  async function sweep(): Promise<void> {
    const halts = await listHalts(redis, keys);
    if (Object.keys(halts).length === 0) return;
    if ((await redis.set(keys.guard.haltSweepLock, options.workerId, 'PX', Math.max(200, pollMs - 100), 'NX')) !== 'OK') return;
    for (const [scope, halt] of Object.entries(halts)) {
      await sweepHaltedRuns(redis, keys, store, { message: `halted: ${halt.reason}`, scenario: scope === '*' ? undefined : scope, mode: 'idle' });
    }
  }
  const runSweep = () => sweep().catch((err: unknown) => log.warn({ err }, 'halt sweep failed'));
  const timer = setInterval(runSweep, pollMs);
  timer.unref();

  const subscriber = duplicateConnection(redis);
  subscriber.on('message', (_channel: string, raw: string) => {
    let type: unknown;
    try {
      type = (JSON.parse(raw) as { type?: unknown }).type;
    } catch {
      return;
    }
    if (type === 'services') services.refresh().catch((err: unknown) => log.warn({ err }, 'services refresh failed'));
    if (type === 'halt') void runSweep();
  });
  await subscriber.subscribe(keys.control);

  const guard = createGuardrails({ ...options, services });
  await guard.preload?.();
  return {
    guard,
    async stop() {
      clearInterval(timer);
      services.stop();
      await subscriber.unsubscribe(keys.control).catch(() => {});
      subscriber.disconnect();
    },
  };
}
