import { describe, expect, it } from 'vitest';
import { parseResult } from '../../src/engine/store.ts';

describe('parseResult: an engine answer, its lists split on first read', () => {
  const answer = [1, 's2|1|0,s3|2|1500', 'step.succeeded|s1|1|\nstep.queued|s2|1|\nrun.failed|||{"reason":"a|b"}', 'running', 'x'];

  it('reads the array answer of a script and the packed one of the fused completion alike', () => {
    const packed = answer.map(String).join('\x1f');
    for (const raw of [answer, packed]) {
      const r = parseResult(raw);
      expect(r).toMatchObject({ code: 1, runStatus: 'running', extra: 'x' });
      expect(r.toEnqueue).toEqual([{ stepId: 's2', attempt: 1, delayMs: 0 }, { stepId: 's3', attempt: 2, delayMs: 1500 }]);
      expect(r.emitted).toEqual([
        { type: 'step.succeeded', stepId: 's1', attempt: 1, data: {} },
        { type: 'step.queued', stepId: 's2', attempt: 1, data: {} },
        { type: 'run.failed', stepId: undefined, attempt: undefined, data: { reason: 'a|b' } },
      ]);
    }
  });

  it('says whether an event of a wanted type is among them without parsing them', () => {
    const r = parseResult(answer);
    expect(r.emittedAny((t) => t === 'run.failed')).toBe(true);
    expect(r.emittedAny((t) => t === 'step.queued')).toBe(true);
    expect(r.emittedAny((t) => t === 'run.succeeded')).toBe(false);
    expect(parseResult([0, '', '', null, 'stale']).emittedAny(() => true)).toBe(false);
    expect(parseResult([0, '', '', null, 'stale']).emitted).toEqual([]);
  });
});
