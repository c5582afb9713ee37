import { ConfigError } from '../config.ts';
import { RedisUnavailableError } from '../redis/connection.ts';
import { isScenarioValidationError } from '../scenario/errors.ts';

/** Exit codes of SPEC §15. */
export const EXIT = { ok: 0, notSucceeded: 1, usage: 2, infrastructure: 3 } as const;

/** Bad flags, arguments or input files: exit 2 with a message naming the problem. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Prints an error the way users should see it (no stack unless SQ_DEBUG) and returns its exit code. */
export function reportError(e: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (isScenarioValidationError(e)) {
    stderr.write(`${e.format()}\n`);
    return EXIT.usage;
  }
  if (e instanceof UsageError || e instanceof ConfigError) {
    stderr.write(`error: ${e.message}\n`);
    return EXIT.usage;
  }
  if (e instanceof RedisUnavailableError) {
    stderr.write(`error: ${e.message}\nhint: start Redis or point REDIS_URL at a reachable one\n`);
    return EXIT.infrastructure;
  }
  const message = e instanceof Error ? e.message : String(e);
  stderr.write(`error: ${message}\n`);
  if (process.env.SQ_DEBUG && e instanceof Error && e.stack) stderr.write(`${e.stack}\n`);
  return EXIT.notSucceeded;
}
