import { describe, expect, it } from 'vitest';
import { redactUrl, uniquePrefix } from '../support/redis.ts';

describe('uniquePrefix', () => {
  it('builds sqt-<label>-<random6> without ":" or braces', () => {
    const prefix = uniquePrefix('lifecycle');
    expect(prefix).toMatch(/^sqt-lifecycle-[a-z0-9]{6}$/);
  });

  it('makes labels key-safe', () => {
    expect(uniquePrefix('Run {a}:b c')).toMatch(/^sqt-run-a-b-c-[a-z0-9]{6}$/);
    expect(uniquePrefix(':::')).toMatch(/^sqt-test-[a-z0-9]{6}$/);
  });

  it('does not repeat itself', () => {
    const prefixes = new Set(Array.from({ length: 1000 }, () => uniquePrefix('x')));
    expect(prefixes.size).toBe(1000);
  });
});

describe('redactUrl', () => {
  it('hides the password of a Redis URL', () => {
    expect(redactUrl('redis://user:s3cret@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
