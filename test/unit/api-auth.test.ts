import { describe, expect, it } from 'vitest';
import { bearerToken, cookieValue, createAuth, safeEqual } from '../../src/api/auth.ts';

const TOKEN = 'a-token-of-sixteen-chars';

describe('safeEqual', () => {
  it('compares strings of any lengths without throwing', () => {
    expect(safeEqual(TOKEN, TOKEN)).toBe(true);
    expect(safeEqual(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(safeEqual('', TOKEN)).toBe(false);
  });
});

describe('bearerToken and cookieValue', () => {
  it('read the credential and nothing else', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`bearer   ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`Basic ${TOKEN}`)).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    expect(cookieValue('a=1; sq_session=v.x; b=2', 'sq_session')).toBe('v.x');
    expect(cookieValue('xsq_session=v', 'sq_session')).toBeUndefined();
  });
});

describe('createAuth', () => {
  const auth = createAuth({ token: TOKEN, sessionTtlMs: 1_000 });

  it('accepts the bearer token and refuses anything else', () => {
    expect(auth.check({ authorization: `Bearer ${TOKEN}` })).toBe('bearer');
    expect(auth.check({ authorization: 'Bearer wrong' })).toBeUndefined();
    expect(auth.check({})).toBeUndefined();
  });

  it('a wrong bearer token is not rescued by a valid session', () => {
    const session = auth.newSession();
    expect(auth.check({ authorization: 'Bearer wrong', cookie: `sq_session=${session}` })).toBeUndefined();
  });

  it('accepts its own sessions until they expire, and no altered or foreign one', () => {
    const now = 1_700_000_000_000;
    const session = auth.newSession(now);
    expect(session).not.toContain(TOKEN);
    expect(auth.check({ cookie: `sq_session=${session}` }, now + 999)).toBe('session');
    expect(auth.check({ cookie: `sq_session=${session}` }, now + 1_000)).toBeUndefined();
    const [expiry, mac] = session.split('.');
    expect(auth.check({ cookie: `sq_session=${Number(expiry) + 10_000}.${mac}` }, now)).toBeUndefined();
    const other = createAuth({ token: `${TOKEN}-rotated` });
    expect(other.check({ cookie: `sq_session=${session}` }, now)).toBeUndefined();
  });

  it('without a token (insecure mode) everything is open', () => {
    expect(createAuth({}).check({})).toBe('open');
    expect(createAuth({}).tokenMatches('')).toBe(false);
  });
});
