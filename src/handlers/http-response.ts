/**
 * Response helpers shared by the `http` and `llm` handlers, so both classify a failing
 * status the same way (SPEC §7) and report the same message shape.
 */
import { STATUS_CODES } from 'node:http';
import { HttpStatusError } from '../errors.ts';

/** Error details keep a bounded slice of the body: it is stored with every attempt. */
const MAX_ERROR_BODY_CHARS = 2048;

/** A fully read response body: the raw text and, for JSON content types, the parsed value. */
export interface ReadBody {
  readonly text: string;
  readonly value: unknown;
}

/**
 * Reads the body once. JSON content types are parsed (empty → null); a body labelled JSON
 * that does not parse is kept as text so assertions and error details can still show it.
 */
export async function readBody(res: Response): Promise<ReadBody> {
  const text = await res.text();
  if (!isJsonContentType(res.headers.get('content-type'))) return { text, value: text };
  if (text.trim() === '') return { text, value: null };
  try {
    return { text, value: JSON.parse(text) as unknown };
  } catch {
    return { text, value: text };
  }
}

/** `application/json`, `application/problem+json`, `text/json; charset=utf-8`, … */
export function isJsonContentType(contentType: string | null): boolean {
  if (!contentType) return false;
  const mime = contentType.split(';')[0].trim().toLowerCase();
  return mime === 'application/json' || mime === 'text/json' || mime.endsWith('+json');
}

/**
 * Parses `Retry-After` (delta-seconds or HTTP-date) into ms from `now`; undefined when
 * absent or unparseable, 0 for a date in the past.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Builds the HttpStatusError for an unexpected status: `HTTP 503 Service Unavailable from GET http://…/x`. */
export function statusError(res: Response, method: string, url: string, body: ReadBody): HttpStatusError {
  const statusText = res.statusText || STATUS_CODES[res.status] || '';
  const message = `HTTP ${res.status}${statusText ? ` ${statusText}` : ''} from ${method} ${displayUrl(url)}`;
  return new HttpStatusError(res.status, message, {
    retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
    body: truncate(body.text, MAX_ERROR_BODY_CHARS),
  });
}

/** Drops userinfo (`user:pass@`) from a URL so credentials never reach error messages. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more chars)`;
}
