import { describe, expect, it } from 'vitest';
import { toJsonReport, toJsonSummary } from '../../src/cli/reports/json.ts';
import { retriesAndContinuedRun, skippedRun, SPEC_EXAMPLE_JSON, specExampleRun, successRun, timedOutRun } from '../fixtures/reports/summaries.ts';

describe('toJsonSummary', () => {
  it('prints the SPEC §15 example exactly, keys in the SPEC order', () => {
    expect(JSON.stringify(toJsonSummary(specExampleRun()))).toBe(JSON.stringify(SPEC_EXAMPLE_JSON));
  });

  it('never carries stacks, worker ids or attempt timings', () => {
    const text = JSON.stringify(toJsonSummary(specExampleRun()));
    expect(text).not.toContain('stack');
    expect(text).not.toContain('workerId');
    expect(text).not.toContain('AssertionError');
  });

  it('appends reason and suite after the SPEC keys, and step reason/continued/service/cost after errors', () => {
    const run = toJsonSummary({ ...retriesAndContinuedRun(), reason: 'why' });
    expect(Object.keys(run)).toEqual(['runId', 'scenario', 'status', 'startedAt', 'finishedAt', 'durationMs', 'cost', 'steps', 'reason', 'suite']);
    const [pay, receipt, teardown] = run.steps;
    expect(Object.keys(pay)).toEqual(['id', 'status', 'attempts', 'durationMs', 'errors', 'service']);
    expect(receipt).toEqual({ id: 'receipt', status: 'skipped', attempts: 0, errors: [], reason: 'upstream_failed' });
    expect(teardown.continued).toBe(true);
    const ask = toJsonSummary(successRun()).steps[1];
    expect(Object.keys(ask)).toEqual(['id', 'status', 'attempts', 'durationMs', 'errors', 'service', 'cost']);
  });

  it('leaves out times a run never had instead of printing undefined or null', () => {
    const run = toJsonSummary(skippedRun());
    expect(Object.keys(run)).toEqual(['runId', 'scenario', 'status', 'cost', 'steps', 'reason']);
    expect(JSON.stringify(run)).not.toContain('null');
  });

  it('copies cost objects so callers cannot mutate the summary through the report', () => {
    const summary = successRun();
    toJsonSummary(summary).cost.tokens.input = 1;
    expect(summary.cost.tokens.input).toBe(100);
  });
});

describe('toJsonReport', () => {
  it('returns the summary itself for one run', () => {
    expect(toJsonReport([specExampleRun()])).toEqual(toJsonSummary(specExampleRun()));
  });

  it('wraps several runs as { suite, status: worst, runs }', () => {
    const report = toJsonReport([successRun(), retriesAndContinuedRun()]);
    expect(Object.keys(report)).toEqual(['suite', 'status', 'runs']);
    expect(report).toMatchObject({ suite: 'ci-42', status: 'failed' });
    expect('runs' in report && report.runs.map((r) => r.runId)).toEqual(['smoke-lx1-aaaa', 'checkout-journey-lx3-cccc']);
  });

  it('omits the suite when runs do not share one, and ranks failed above timed_out above skipped', () => {
    expect(toJsonReport([successRun(), timedOutRun()])).not.toHaveProperty('suite');
    expect(toJsonReport([timedOutRun(), specExampleRun()])).toMatchObject({ status: 'failed' });
    expect(toJsonReport([skippedRun(), timedOutRun()])).toMatchObject({ status: 'timed_out' });
    expect(toJsonReport([successRun(), skippedRun()])).toMatchObject({ status: 'skipped' });
  });
});
