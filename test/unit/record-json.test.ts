import { describe, expect, it } from 'vitest';
import { recordJson, type AttemptRecord } from '../../src/engine/store.ts';

describe('recordJson', () => {
  it('writes a succeeded attempt as JSON.stringify does', () => {
    const record: AttemptRecord = { attempt: 2, workerId: 'host-1-"q"\\x', startedAt: 1_700_000_000_000, finishedAt: 1_700_000_000_012 };
    record.status = 'succeeded';
    expect(recordJson(record)).toBe(JSON.stringify(record));
    const other: AttemptRecord = { attempt: 1, workerId: 'w2', startedAt: 1, finishedAt: 2, status: 'succeeded' };
    expect(recordJson(other)).toBe(JSON.stringify(other));
    expect(JSON.parse(recordJson(record))).toEqual(record);
  });

  it('leaves every other record to JSON.stringify', () => {
    const failed: AttemptRecord = { attempt: 1, workerId: 'w', startedAt: 1, finishedAt: 2, status: 'failed', kind: 'transient', message: 'boom' };
    expect(recordJson(failed)).toBe(JSON.stringify(failed));
    const retry: AttemptRecord = { attempt: 1, workerId: 'w', startedAt: 1, finishedAt: 2, status: 'retry', retryDelayMs: 100 };
    expect(recordJson(retry)).toBe(JSON.stringify(retry));
    const odd: AttemptRecord = { attempt: Number.NaN, workerId: 'w', startedAt: 1, finishedAt: 2, status: 'succeeded' };
    expect(recordJson(odd)).toBe(JSON.stringify(odd));
  });
});
