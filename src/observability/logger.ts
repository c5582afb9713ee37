import { pino, type Logger } from 'pino';
import { redactSecrets } from '../guardrails/redact.ts';

export type { Logger };

export interface LoggerOptions {
  readonly level?: string;
  readonly base?: Record<string, unknown>;
  /** Defaults to stdout; the CLI logs to stderr so stdout keeps only the summary. */
  readonly destination?: 1 | 2;
}

/** The process logger: pino JSON, messages static, data in fields; secret values never leave it (SPEC §10). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    { level: options.level ?? process.env.SQ_LOG_LEVEL ?? 'info', base: options.base ?? {}, hooks: { streamWrite: redactSecrets } },
    pino.destination({ dest: options.destination ?? 1, sync: false }),
  );
}
