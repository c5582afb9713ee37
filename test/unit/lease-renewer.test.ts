import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLeaseRenewer } from '../../src/guardrails/lease-renewer.ts';

afterEach(() => void vi.useRealTimers());

describe('createLeaseRenewer: one timer renews every held lease', () => {
  it('renews each held lease every period until it is released', () => {
    vi.useFakeTimers();
    const renewed: string[] = [];
    const renewer = createLeaseRenewer<string>(1_000, (lease) => void renewed.push(lease));
    renewer.hold('a');
    renewer.hold('b');
    vi.advanceTimersByTime(1_000);
    expect(renewed).toEqual(['a', 'b']);
    renewer.release('a');
    vi.advanceTimersByTime(2_000);
    expect(renewed).toEqual(['a', 'b', 'b', 'b']);
    renewer.release('b');
    vi.advanceTimersByTime(5_000);
    expect(renewed).toHaveLength(4);
    // One timer for all of them, made on the first hold and kept.
    renewer.hold('c');
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(renewed.at(-1)).toBe('c');
  });
});
