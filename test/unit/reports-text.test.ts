import { describe, expect, it } from 'vitest';
import { toText } from '../../src/cli/reports/text.ts';
import { shouldColor } from '../../src/cli/reports/color.ts';
import { retriesAndContinuedRun, skippedRun, specExampleRun, successRun, timedOutRun } from '../fixtures/reports/summaries.ts';

const ANSI = /\u001b\[/;

describe('toText', () => {
  it('prints a verdict line, cost and an aligned step table', () => {
    const text = toText([specExampleRun()]);
    const lines = text.split('\n');
    expect(lines[0]).toBe('FAILED  checkout-journey  run checkout-journey-lx2-bbbb  1.2s  1 passed, 1 failed, 0 skipped');
    expect(lines[1]).toBe('  cost: $0.0120, 1200 tokens (900 in / 300 out), 7 calls');
    expect(lines).toContain('  step    status     attempts  duration  details');
    expect(lines).toContain('  login   succeeded  2         80ms');
    expect(lines).toContain('  verify  failed     1         -         assertion: …');
  });

  it('lists retries with kind, message and delay', () => {
    const text = toText([retriesAndContinuedRun()]);
    expect(text).toContain('  retries:\n    pay  attempt 1  server_error  HTTP 502    retried after 1.0s\n    pay  attempt 2  network       ECONNRESET  retried after 2.0s');
    expect(text).toContain('teardown  failed   1         30ms      client_error: HTTP 404 (continued)');
  });

  it('shows the run reason and skip reasons', () => {
    expect(toText([timedOutRun()])).toContain('  reason: run timed out after 5000ms (run timeoutMs); no live workers');
    expect(toText([skippedRun()])).toMatch(/ask +skipped +0 +- +credentials_missing/);
  });

  it('has no ANSI codes unless colors are asked for', () => {
    const runs = [successRun(), retriesAndContinuedRun()];
    expect(toText(runs)).not.toMatch(ANSI);
    const colored = toText(runs, { color: true });
    expect(colored).toMatch(ANSI);
    expect(colored.replace(/\u001b\[[0-9;]*m/g, '')).toBe(toText(runs));
  });

  it('ends a suite with its worst verdict', () => {
    expect(toText([successRun(), timedOutRun()]).trimEnd().split('\n').at(-1)).toBe('suite: TIMED_OUT  1 of 2 runs passed');
  });
});

describe('shouldColor', () => {
  it('follows the TTY, NO_COLOR wins, FORCE_COLOR forces', () => {
    expect(shouldColor({ isTTY: true }, {})).toBe(true);
    expect(shouldColor({ isTTY: false }, {})).toBe(false);
    expect(shouldColor({}, {})).toBe(false);
    expect(shouldColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColor({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(shouldColor({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(shouldColor({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
  });
});
