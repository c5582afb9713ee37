import { describe, expect, it } from 'vitest';
import { readExposition, selectorsIn, unknownReferences } from '../support/promql.ts';

describe('selectorsIn', () => {
  it('finds metric selectors and their matcher labels, not functions, keywords, grouping labels or variables', () => {
    expect(
      selectorsIn('histogram_quantile(0.95, sum by (le, handler) (rate(sq_step_duration_seconds_bucket{scenario=~"$scenario"}[$__rate_interval])))'),
    ).toEqual([{ name: 'sq_step_duration_seconds_bucket', labels: ['scenario'] }]);
    expect(selectorsIn('sq:queue_backlog:max > 0 unless on () (count(up{job="w"} == 1) > 0) or vector(0)')).toEqual([
      { name: 'sq:queue_backlog:max', labels: [] },
      { name: 'up', labels: ['job'] },
    ]);
    expect(selectorsIn('label_values(sq_runs_total, scenario)')).toEqual([{ name: 'sq_runs_total', labels: [] }]);
    expect(selectorsIn('rate(x_total[5m] offset 1h) * 1e3')).toEqual([{ name: 'x_total', labels: [] }]);
  });
});

describe('unknownReferences', () => {
  const exposition = readExposition(
    [
      '# HELP sq_runs_total Runs.',
      '# TYPE sq_runs_total counter',
      'sq_runs_total{scenario="a",status="failed"} 1',
      '# TYPE sq_run_duration_seconds histogram',
      '# TYPE sq_circuit_state gauge',
    ].join('\n'),
  );

  it('accepts exported names, histogram series of a family without samples, and known extras', () => {
    expect(unknownReferences('sum by (status) (increase(sq_runs_total{status="failed"}[5m]))', exposition)).toEqual([]);
    expect(unknownReferences('rate(sq_run_duration_seconds_bucket[5m])', exposition)).toEqual([]);
    expect(unknownReferences('max(sq_circuit_state{service="x"}) and up{job="w"}', exposition, new Set(['up']))).toEqual([]);
  });

  it('names a misspelt metric and a label the metric never carries', () => {
    expect(unknownReferences('sum(sq_run_total) + sq_runs_total{scenarioo="a"}', exposition)).toEqual(['metric sq_run_total', 'label scenarioo of sq_runs_total']);
  });
});
