/**
 * API authentication (SPEC §16): `Authorization: Bearer $SQ_API_TOKEN` on every route but
 * health, compared in constant time. Browsers (the dashboard, its EventSource, Bull Board)
 * cannot send that header, so `POST /login` with the token sets a short-lived session cookie:
 * `<expiresAtMs>.<HMAC-SHA256(token, expiresAtMs)>`, HttpOnly and SameSite=Strict. The token
 * itself never goes into a URL, a cookie or a page; rotating it ends every session.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'sq_session';
/** @default 12 hours */
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time string equality: both sides are hashed first, so lengths never differ. */
export function safeEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The bearer token of an Authorization header, if it has one. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface AuthOptions {
  /** SQ_API_TOKEN; undefined only in insecure mode. */
  readonly token?: string;
  readonly sessionTtlMs?: number;
}

export type AuthMethod = 'bearer' | 'session' | 'open';

/** Checks credentials and mints sessions for one token. */
export function createAuth(options: AuthOptions) {
  const token = options.token;
  const ttlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const sign = (expiresAt: string) => createHmac('sha256', token ?? '').update(`sq-session|${expiresAt}`).digest('base64url');

  function sessionValid(value: string | undefined, now: number): boolean {
    if (!value) return false;
    const dot = value.indexOf('.');
    const expiresAt = value.slice(0, dot);
    if (dot <= 0 || !/^\d{1,15}$/.test(expiresAt) || Number(expiresAt) <= now) return false;
    return safeEqual(value.slice(dot + 1), sign(expiresAt));
  }

  return {
    ttlMs,
    /** How the request authenticated, or undefined when it did not. */
    check(headers: { authorization?: string; cookie?: string }, now = Date.now()): AuthMethod | undefined {
      if (token === undefined) return 'open';
      const bearer = bearerToken(headers.authorization);
      if (bearer !== undefined) return safeEqual(bearer, token) ? 'bearer' : undefined;
      return sessionValid(cookieValue(headers.cookie, SESSION_COOKIE), now) ? 'session' : undefined;
    },
    /** True when `given` is the API token. */
    tokenMatches(given: string): boolean {
      return token !== undefined && safeEqual(given, token);
    },
    /** A session cookie value valid for the TTL. */
    newSession(now = Date.now()): string {
      const expiresAt = String(now + ttlMs);
      return `${expiresAt}.${sign(expiresAt)}`;
    },
  };
}

export type Auth = ReturnType<typeof createAuth>;
