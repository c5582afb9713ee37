import { pino, type DestinationStream, type Logger } from 'pino';
import type { RedisConnection } from '../redis/connection.ts';

/** Per attempt: the first lines are kept (they say what the attempt set out to do). */
export const MAX_LOG_LINES_PER_ATTEMPT = 200;
export const MAX_LOG_LINE_BYTES = 4 * 1024;
const DROPPED = `… further lines of this attempt were dropped (${MAX_LOG_LINES_PER_ATTEMPT} kept)`;

/** One entry of a run's log list (keys.runLogs). */
export interface LogEntry {
  step: string;
  attempt: number;
  line: string;
}

export interface CaptureOptions {
  readonly redis: RedisConnection;
  /** keys.runLogs(runId) */
  readonly key: string;
  readonly stepId: string;
  readonly attempt: number;
  /** The list expires with the run's other data (CachedRun.keepUntil). */
  readonly keepUntil: number;
  /** The guard's redaction: secret values never reach Redis (SPEC §10). */
  readonly redact: (text: string) => string;
}

const LEVEL = /"level":(\d+)/;

/**
 * The handler's `ctx.log`: logs like `parent` (same bindings and destination), and appends
 * a capped, redacted copy of each line to the run's log list for failure bundles (SPEC §12).
 * Lines go out on the worker's connection before the attempt's result does, so a bundle
 * read after the step ended has them all, and a crash loses none already written.
 */
export function captureAttemptLog(parent: Logger, options: CaptureOptions): Logger {
  const out = (parent as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
  const parentLevel = parent.levelVal;
  let kept = 0;
  const append = (line: string) => {
    const entry: LogEntry = { step: options.stepId, attempt: options.attempt, line };
    options.redis
      .multi()
      .rpush(options.key, JSON.stringify(entry))
      .pexpireat(options.key, options.keepUntil)
      .exec()
      .catch(() => {});
  };
  const tee: DestinationStream = {
    write(line: string) {
      // This stream bypasses the process logger's redaction hook, so it redacts itself.
      if (Number(LEVEL.exec(line)?.[1] ?? 0) >= parentLevel) out.write(options.redact(line));
      kept++;
      if (kept > MAX_LOG_LINES_PER_ATTEMPT + 1) return;
      if (kept === MAX_LOG_LINES_PER_ATTEMPT + 1) return append(DROPPED);
      const text = options.redact(line.trimEnd());
      append(text.length > MAX_LOG_LINE_BYTES ? `${text.slice(0, MAX_LOG_LINE_BYTES)}…[truncated]` : text);
    },
  };
  // Info and above are kept even when the process logs less, so bundles have them.
  const level = parentLevel < pino.levels.values.info ? parent.level : 'info';
  return pino({ level, base: {} }, tee).child(parent.bindings());
}
