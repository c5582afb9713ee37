import { describe, expect, it } from 'vitest';
import { renderMarkdown, type BenchDocument } from '../../bench/report.ts';

function doc(rounds: { ratio: number; rawStolen?: number; sqStolen?: number }[]): BenchDocument {
  const side = (key: 'rawStolen' | 'sqStolen') => ({
    stepsPerSec: 1,
    rounds: rounds.map((r) => (r[key] === undefined ? {} : { machineStolenPercent: r[key], machineIdlePercent: 0 })),
    ...(rounds.every((r) => r[key] !== undefined) ? { machineStolenPercent: 0, machineIdlePercent: 0 } : {}),
  });
  return {
    startedAt: '2026-11-27T00:00:00.000Z',
    durationMs: 1000,
    machine: { nproc: 2, cpuModel: 'cpu', node: 'v20', redis: '7.0', bullmq: '6.7', loadAvgStart: [0], loadAvgEnd: [0] },
    redis: { owned: true },
    options: { quick: false, concurrency: 8 },
    results: { throughput: { raw: side('rawStolen'), scenarioQueue: side('sqStolen'), roundRatios: rounds.map((r) => r.ratio), pairedRatio: 0.6 } },
    goals: [],
  };
}

const roundsRow = (markdown: string) => markdown.split('\n').find((line) => line.includes('ratio of each round')) ?? '';

describe('bench report: the throughput rounds', () => {
  it('marks the rounds where either side lost 10 % or more of the CPU to the hypervisor, and says what the mark means', () => {
    const row = roundsRow(renderMarkdown(doc([
      { ratio: 0.62, rawStolen: 2, sqStolen: 1 },
      { ratio: 0.42, rawStolen: 3, sqStolen: 25 },
      { ratio: 0.91, rawStolen: 10, sqStolen: 0 },
    ])));
    expect(row).toContain('(0.62, 0.42*, 0.91*; * a side lost ≥ 10 % of the CPU to the hypervisor)');
    expect(renderMarkdown(doc([{ ratio: 0.6, rawStolen: 1, sqStolen: 2 }]))).toContain("the machine's CPU stolen by the hypervisor / idle");
  });

  it('shows the ratios unmarked, with no stolen-CPU row, where nothing was recorded (not Linux, or an older document)', () => {
    const markdown = renderMarkdown(doc([{ ratio: 0.62 }, { ratio: 0.42 }]));
    expect(roundsRow(markdown)).toContain('(0.62, 0.42): median');
    expect(markdown).not.toContain('stolen');
  });
});
