import { loadEnv, type Env } from '../config.ts';
import { createClient, type ScenarioClient } from '../client.ts';
import { BUILTIN_HANDLERS } from '../handlers/builtin/index.ts';
import { loadHandlerModule } from '../handlers/load.ts';
import type { HandlerDefinition } from '../handlers/types.ts';

let env: Env | undefined;

/** The validated environment (SPEC §18); a bad variable exits 2 naming it. */
export function cliEnv(): Env {
  env ??= loadEnv();
  return env;
}

/** A client on REDIS_URL / SQ_PREFIX; exits 3 naming the URL when Redis is unreachable. */
export function openClient(): Promise<ScenarioClient> {
  const e = cliEnv();
  return createClient({ redisUrl: e.REDIS_URL, prefix: e.SQ_PREFIX });
}

/** Custom handlers from `--handlers` or SQ_HANDLERS. */
export async function customHandlers(flag?: string): Promise<HandlerDefinition[]> {
  const spec = flag ?? cliEnv().SQ_HANDLERS;
  return spec ? loadHandlerModule(spec) : [];
}

/** Handler names a scenario may use: built-ins, custom modules, and what live workers advertise. */
export function knownHandlerNames(custom: readonly HandlerDefinition[], advertised: readonly string[] = []): Set<string> {
  return new Set([...BUILTIN_HANDLERS.map((h) => h.name), ...custom.map((h) => h.name), ...advertised]);
}

/** Opens a client, runs `fn` with it, and closes it whatever happens. */
export async function withClient<T>(fn: (client: ScenarioClient) => Promise<T>): Promise<T> {
  const client = await openClient();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
