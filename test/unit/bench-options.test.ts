import { describe, expect, it } from 'vitest';
import { BenchUsageError, childNodeArgs, parseOptions } from '../../bench/options.ts';

describe('bench options', () => {
  it('BENCH_CHILD_NODE_ARGS: words split at spaces, or a JSON array for an argument holding a space', () => {
    expect(childNodeArgs({})).toEqual([]);
    expect(childNodeArgs({ BENCH_CHILD_NODE_ARGS: ' --cpu-prof  --cpu-prof-dir=/tmp/prof ' })).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/prof']);
    expect(childNodeArgs({ BENCH_CHILD_NODE_ARGS: '["--cpu-prof", "--cpu-prof-dir=/tmp/my profiles"]' })).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/my profiles']);
  });

  it('a BENCH_CHILD_NODE_ARGS that starts with "[" and is no JSON array of strings is a usage error naming it, raised by parseOptions', () => {
    for (const value of ['["--x", 1]', '[--x']) {
      expect(() => childNodeArgs({ BENCH_CHILD_NODE_ARGS: value })).toThrow(BenchUsageError);
      expect(() => parseOptions([], { BENCH_CHILD_NODE_ARGS: value })).toThrow(/^BENCH_CHILD_NODE_ARGS: /);
    }
  });

  it('bad flags and env values are usage errors that name the field (REDIS_URL as the variable)', () => {
    expect(() => parseOptions(['--rounds', 'x'])).toThrow(BenchUsageError);
    expect(() => parseOptions(['--rounds', 'x'])).toThrow(/^rounds: /);
    expect(() => parseOptions(['--bogus', '1'])).toThrow(/unknown argument "--bogus"/);
    expect(() => parseOptions([], { REDIS_URL: 'nope' })).toThrow(/^REDIS_URL: /);
    expect(() => parseOptions([], { BENCH_ONLY: 'throughput,nope' })).toThrow(/^only\.1: /);
  });
});
