/** Renders the benchmark document as the Markdown table kept in bench/results/latest.md. */
import type { Goal } from './context.ts';

/** The JSON document `npm run bench` prints (the parts the table reads). */
export interface BenchDocument {
  startedAt: string;
  durationMs: number;
  machine: { nproc: number; cpuModel: string; node: string; redis: string; bullmq: string; loadAvgStart: number[]; loadAvgEnd: number[] };
  redis: { owned: boolean };
  options: { quick: boolean; concurrency: number };
  results: Record<string, Record<string, unknown> | undefined>;
  goals: Goal[];
}

type Obj = Record<string, unknown>;
const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v as Obj | undefined)?.[k], o);
const fmt = (v: unknown): string => (v === null || v === undefined ? '—' : typeof v === 'number' ? String(v) : String(v));
const row = (cells: unknown[]) => `| ${cells.map(fmt).join(' | ')} |`;

/** A round where either side lost this share of the machine to the hypervisor is marked. */
const STOLEN_MARK_PERCENT = 10;

/** The rounds' ratios, `*` after those where either side lost ≥ STOLEN_MARK_PERCENT % of the CPU. */
function roundRatios(r: Obj): string {
  const ratios = (get(r, 'roundRatios') as number[] | undefined) ?? [];
  const stolen = (side: string, i: number) => (get(r, `${side}.rounds.${i}.machineStolenPercent`) as number | undefined) ?? 0;
  const marked = ratios.map((x, i) => (Math.max(stolen('raw', i), stolen('scenarioQueue', i)) >= STOLEN_MARK_PERCENT ? `${x}*` : String(x)));
  const note = marked.some((m) => m.endsWith('*')) ? `; * a side lost ≥ ${STOLEN_MARK_PERCENT} % of the CPU to the hypervisor` : '';
  return marked.join(', ') + note;
}

function throughputRows(r: Obj): string[] {
  const baseline = get(r, 'baseline')
    ? [row(['1 throughput', `steps/s: --baseline-tree ${get(r, 'baseline.tree')} vs this tree (worker CPU ratio ${get(r, 'baseline.currentOverBaseline.workerCpu')})`, get(r, 'baseline.stepsPerSec'), get(r, 'scenarioQueue.stepsPerSec'), get(r, 'baseline.currentOverBaseline.stepsPerSec')])]
    : [];
  return [
    ...baseline,
    row(['1 throughput', 'no-op steps/s (raw: jobs/s), medians of the rounds', get(r, 'raw.stepsPerSec'), get(r, 'scenarioQueue.stepsPerSec'), get(r, 'ratio')]),
    row(['1 throughput', `steps/s ratio of each round (${roundRatios(r)}): median`, '', '', get(r, 'pairedRatio')]),
    row(['1 throughput', 'worker CPU µs per step', get(r, 'raw.workerCpuUsPerStep'), get(r, 'scenarioQueue.workerCpuUsPerStep'), get(r, 'workerCpuRatio')]),
    row(['1 throughput', "worker's main thread CPU µs per step (the rest: V8's helper threads, compiling and collecting)", get(r, 'raw.workerMainCpuUsPerStep'), get(r, 'scenarioQueue.workerMainCpuUsPerStep'), get(r, 'workerMainCpuRatio')]),
    row(['1 throughput', 'Redis CPU µs per step', get(r, 'raw.redisCpuUsPerStep'), get(r, 'scenarioQueue.redisCpuUsPerStep'), get(r, 'redisCpuRatio')]),
    row(['1 throughput', 'worker + Redis CPU per step: raw ÷ scenario-queue', '', '', get(r, 'cpuPerStepRatio')]),
    ...(get(r, 'raw.machineStolenPercent') === undefined
      ? []
      : [row(['1 throughput', "the machine's CPU stolen by the hypervisor / idle, % (medians of the rounds)", `${get(r, 'raw.machineStolenPercent')} / ${get(r, 'raw.machineIdlePercent')}`, `${get(r, 'scenarioQueue.machineStolenPercent')} / ${get(r, 'scenarioQueue.machineIdlePercent')}`, ''])]),
  ];
}

function handoffRows(r: Obj): string[] {
  const baseline = get(r, 'baseline')
    ? [row(['2 handoff', `p50 / p99 ms: --baseline-tree vs this tree`, `${get(r, 'baseline.p50Ms')} / ${get(r, 'baseline.p99Ms')}`, `${get(r, 'scenarioQueue.p50Ms')} / ${get(r, 'scenarioQueue.p99Ms')}`, ''])]
    : [];
  return [...baseline, ...['p50Ms', 'p95Ms', 'p99Ms', 'maxMs', 'chainMsPerStep'].map((k) =>
    row(['2 handoff', `${k.replace('Ms', '')} ms`, get(r, `raw.${k}`), get(r, `scenarioQueue.${k}`), k === 'p50Ms' ? get(r, 'p50Ratio') : k === 'p99Ms' ? get(r, 'p99Ratio') : '']),
  )];
}

function costRows(r: Obj): string[] {
  const rows: string[] = [];
  for (const [shape, rawKey, sqKey, ratioKey] of [
    ['independent', 'raw', 'sq', 'ratioIndependent'],
    ['chain', 'raw-chain', 'sq-chain', 'ratioChain'],
  ]) {
    for (const metric of ['commands', 'luaCalls', 'clientCommands', 'commandsInLua']) {
      rows.push(row([`3 Redis cost (${shape})`, `${metric} per step`, get(r, `shapes.${rawKey}.total.${metric}`), get(r, `shapes.${sqKey}.total.${metric}`), get(r, `${ratioKey}.${metric}`) ?? '']));
    }
  }
  return rows;
}

function fanoutRows(r: Obj): string[] {
  const baseline = get(r, 'baseline')
    ? [row(['4 fan-out/fan-in', `ms for ${get(r, 'config.width')} steps, --baseline-tree ${get(r, 'baseline.tree')}: independent vs diamond`, get(r, 'baseline.independent.ms'), get(r, 'baseline.diamond.ms'), get(r, 'baseline.ratio')])]
    : [];
  return [...baseline, row(['4 fan-out/fan-in', `ms for ${get(r, 'config.width')} steps: independent (baseline) vs diamond`, get(r, 'independent.ms'), get(r, 'diamond.ms'), get(r, 'ratio')])];
}

function guardrailRows(r: Obj): string[] {
  return [
    row(['5 guardrails', 'steps/s: plain engine vs never-binding guardrails', get(r, 'plain.stepsPerSec'), get(r, 'guarded.stepsPerSec'), get(r, 'ratio')]),
    row(['5 guardrails', 'steps/s: plain engine vs default worker (no policies)', get(r, 'plain.stepsPerSec'), get(r, 'default.stepsPerSec'), get(r, 'defaultRatio')]),
  ];
}

function memoryRows(r: Obj): string[] {
  const readings = (get(r, 'readings') as { steps: number; rssMiB: number; heapUsedMiB: number }[] | undefined) ?? [];
  return [
    ...readings.map((x) => row(['6 memory', `worker RSS / heap after ${x.steps} steps (MiB)`, '', `${x.rssMiB} / ${x.heapUsedMiB}`, ''])),
    row(['6 memory', 'RSS growth (MiB)', '', get(r, 'rssGrowthMiB'), '']),
  ];
}

const ROWS: Record<string, (r: Obj) => string[]> = {
  throughput: throughputRows,
  handoff: handoffRows,
  redisCost: costRows,
  fanout: fanoutRows,
  guardrails: guardrailRows,
  memory: memoryRows,
};

export function renderMarkdown(doc: BenchDocument): string {
  const m = doc.machine;
  const lines = [
    `# scenario-queue benchmark — ${doc.startedAt}${doc.options.quick ? ' (--quick: tiny sizes, figures not meaningful)' : ''}`,
    '',
    `${m.nproc} × ${m.cpuModel}, Node ${m.node}, Redis ${m.redis} (${doc.redis.owned ? 'benchmark-owned' : 'shared REDIS_URL'}), BullMQ ${m.bullmq}; load average ${m.loadAvgStart.join(' ')} at start, ${m.loadAvgEnd.join(' ')} at end; ${Math.round(doc.durationMs / 1000)} s.`,
    '',
    'Baseline is raw BullMQ for items 1–3, the independent run for 4 and the plain engine (no guardrails) for 5; ratio = scenario-queue ÷ baseline.',
    '',
    '| item | metric | baseline | scenario-queue | ratio |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const [item, render] of Object.entries(ROWS)) {
    const r = doc.results[item];
    if (r) lines.push(...render(r));
  }
  lines.push('', '| goal | value | target | met |', '| --- | --- | --- | --- |');
  for (const g of doc.goals) lines.push(row([`${g.item}: ${g.metric}`, g.value, g.target, g.met === null ? 'not measured' : g.met ? 'yes' : 'no']));
  return `${lines.join('\n')}\n`;
}
