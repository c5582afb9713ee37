/**
 * The failure taxonomy of SPEC §7: every thrown thing becomes a `Failure` with a kind.
 * Errors carry a brand so that guards work across duplicated package copies.
 */

export const TRANSIENT_KINDS = ['timeout', 'network', 'rate_limited', 'server_error', 'transient', 'stalled'] as const;
export const DETERMINISTIC_KINDS = [
  'assertion',
  'client_error',
  'invalid_input',
  'invalid_output',
  'error',
  'budget_exceeded',
  'credentials_missing',
  'circuit_open',
  'halted',
  'cancelled',
] as const;
export const ERROR_KINDS = [...TRANSIENT_KINDS, ...DETERMINISTIC_KINDS] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

const BRAND = Symbol.for('scenario-queue.ScenarioError');

/** Which span a timeout covers; named in the message so users know which limit to raise. */
export type TimeoutLevel = 'attempt' | 'group' | 'run';

export interface ScenarioErrorOptions {
  readonly cause?: unknown;
  /** Overrides the default retryability of the kind. */
  readonly retryable?: boolean;
  /** Server-requested delay before the next attempt (HTTP Retry-After). */
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;
}

/** Base of every error this package throws on purpose. */
export class ScenarioError extends Error {
  readonly [BRAND] = true;
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;

  constructor(kind: ErrorKind, message: string, options: ScenarioErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ScenarioError';
    this.kind = kind;
    this.retryable = options.retryable ?? isTransientKind(kind);
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

/** Thrown by handlers for faults worth retrying (default kind `transient`). */
export class TransientError extends ScenarioError {
  constructor(message: string, options: ScenarioErrorOptions & { kind?: (typeof TRANSIENT_KINDS)[number] } = {}) {
    super(options.kind ?? 'transient', message, { ...options, retryable: true });
    this.name = 'TransientError';
  }
}

/** Thrown by handlers for faults that will fail the same way again (default kind `error`). */
export class DeterministicError extends ScenarioError {
  constructor(message: string, options: ScenarioErrorOptions & { kind?: (typeof DETERMINISTIC_KINDS)[number] } = {}) {
    super(options.kind ?? 'error', message, { ...options, retryable: false });
    this.name = 'DeterministicError';
  }
}

/** A deadline passed; the message names the level and the limit. */
export class ScenarioTimeoutError extends ScenarioError {
  readonly level: TimeoutLevel;
  readonly limitMs: number;
  constructor(level: TimeoutLevel, limitMs: number, subject?: string) {
    const what = level === 'attempt' ? 'attempt' : level === 'group' ? `group "${subject}"` : 'run';
    const field = level === 'attempt' ? 'timeoutMs' : level === 'group' ? `groups.${subject}.timeoutMs` : 'timeoutMs';
    super('timeout', `${what} timed out after ${limitMs}ms (${level === 'run' ? 'run ' : ''}${field})`, {
      retryable: level === 'attempt',
      details: { level, limitMs },
    });
    this.name = 'ScenarioTimeoutError';
    this.level = level;
    this.limitMs = limitMs;
  }
}

/** An HTTP response with a failing status; classified by status code. */
export class HttpStatusError extends ScenarioError {
  readonly status: number;
  constructor(status: number, message: string, options: { retryAfterMs?: number; body?: unknown } = {}) {
    super(kindForStatus(status), message, { retryAfterMs: options.retryAfterMs, details: { status, body: options.body } });
    this.name = 'HttpStatusError';
    this.status = status;
  }
}

export function isScenarioError(e: unknown): e is ScenarioError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

export function isTransientKind(kind: string): boolean {
  return (TRANSIENT_KINDS as readonly string[]).includes(kind);
}

export function isErrorKind(kind: string): kind is ErrorKind {
  return (ERROR_KINDS as readonly string[]).includes(kind);
}

export function kindForStatus(status: number): ErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return 'error';
}

/** Plain data describing one failed attempt; what is stored, reported and retried on. */
export interface Failure {
  kind: ErrorKind;
  message: string;
  stack?: string;
  retryable: boolean;
  retryAfterMs?: number;
  details?: Record<string, unknown>;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Walks `cause` chains: undici wraps the socket error in `TypeError: fetch failed`. */
function networkCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const code = errorCode(cur);
    if (code && NETWORK_CODES.has(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Classifies anything thrown into a Failure (SPEC §7). */
export function toFailure(e: unknown): Failure {
  if (isScenarioError(e)) {
    return {
      kind: e.kind,
      message: e.message,
      stack: e.stack,
      retryable: e.retryable,
      retryAfterMs: e.retryAfterMs,
      details: e.details,
    };
  }
  if (e instanceof Error) {
    const code = networkCode(e);
    if (code) {
      const inner = (e.cause as Error | undefined)?.message;
      return { kind: 'network', message: inner && inner !== e.message ? `${e.message}: ${inner}` : `${e.message} (${code})`, stack: e.stack, retryable: true };
    }
    if (e.name === 'TimeoutError') return { kind: 'timeout', message: e.message, stack: e.stack, retryable: true };
    if (e.name === 'ZodError') return { kind: 'invalid_input', message: e.message, stack: e.stack, retryable: false };
    return { kind: 'error', message: e.message || e.name, stack: e.stack, retryable: false };
  }
  return { kind: 'error', message: typeof e === 'string' ? e : safeStringify(e), retryable: false };
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
