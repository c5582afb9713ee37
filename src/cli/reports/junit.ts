import type { CostTotals, RunSummary, StepSummary } from '../../engine/types.ts';
import { formatAttemptError, formatSeconds, isZeroCost, lastError, oneLine, truncate } from './format.ts';
import { isPassingRun, stepOutcome } from './verdict.ts';
import { renderXmlDocument, type XmlElement } from './xml.ts';

export interface JunitOptions {
  /**
   * Name of the root `<testsuites>` element.
   * @default 'scenario-queue'
   */
  readonly name?: string;
}

// Synthetic testcase for verdicts no step carries (a run that timed out before any step failed).
const RUN_CASE = '(run)';
const MESSAGE_MAX = 500;

interface Counts {
  tests: number;
  failures: number;
  skipped: number;
}

function property(name: string, value: string | number): XmlElement {
  return { name: 'property', attrs: { name, value } };
}

function costProperties(cost: CostTotals | undefined): XmlElement[] {
  if (!cost || isZeroCost(cost)) return [];
  return [
    property('cost.usd', cost.usd),
    property('cost.tokens.input', cost.tokens.input),
    property('cost.tokens.output', cost.tokens.output),
    property('cost.calls', cost.calls),
  ];
}

function attemptLines(step: StepSummary): string {
  return step.errors.map(formatAttemptError).join('\n');
}

// A passing step still says what happened on the way: retries, continueOnError, reuse.
function passNote(step: StepSummary): string | undefined {
  const lines: string[] = [];
  if (stepOutcome(step) === 'continued') lines.push(`${step.status} but continueOnError: counted as success`);
  else if (step.status === 'reused') lines.push('output reused from an earlier run (--resume)');
  else if (step.errors.length > 0) lines.push(`succeeded after ${step.attempts} attempts`);
  if (step.errors.length > 0) lines.push(attemptLines(step));
  return lines.length > 0 ? lines.join('\n') : undefined;
}

function failureElement(step: StepSummary): XmlElement {
  const last = lastError(step);
  const detail = last ? `${last.kind}: ${last.message}` : step.reason ?? 'no attempt error recorded';
  const body = [`status: ${step.status}${step.reason ? ` (${step.reason})` : ''}`, `attempts: ${step.attempts}`];
  if (step.errors.length > 0) body.push(attemptLines(step));
  return {
    name: 'failure',
    attrs: { message: truncate(oneLine(`${step.status}: ${detail}`), MESSAGE_MAX), type: last?.kind ?? step.status },
    text: body.join('\n'),
  };
}

function testcase(scenario: string, step: StepSummary, counts: Counts): XmlElement {
  const props = [property('status', step.status), property('attempts', step.attempts)];
  if (step.reason) props.push(property('reason', step.reason));
  if (step.service) props.push(property('service', step.service));
  props.push(...costProperties(step.cost));
  const children: XmlElement[] = [{ name: 'properties', children: props }];
  const outcome = stepOutcome(step);
  counts.tests++;
  if (outcome === 'failed') {
    counts.failures++;
    children.push(failureElement(step));
  } else if (outcome === 'skipped' || outcome === 'pending') {
    counts.skipped++;
    const message = outcome === 'skipped' ? step.reason ?? 'skipped' : `not finished (${step.status})`;
    children.push({ name: 'skipped', attrs: { message } });
  } else {
    const note = passNote(step);
    if (note) children.push({ name: 'system-out', text: note });
  }
  return { name: 'testcase', attrs: { classname: scenario, name: step.id, time: formatSeconds(step.durationMs) }, children };
}

// Keeps CI red (or visibly skipped) when the run's verdict is not carried by any step.
function runCase(summary: RunSummary, counts: Counts): XmlElement | undefined {
  const attrs = { classname: summary.scenario, name: RUN_CASE, time: formatSeconds(summary.durationMs) };
  const reason = summary.reason ?? summary.status;
  if (!isPassingRun(summary.status) && counts.failures === 0) {
    counts.tests++;
    counts.failures++;
    const failure = { name: 'failure', attrs: { message: truncate(oneLine(`run ${summary.status}: ${reason}`), MESSAGE_MAX), type: summary.status }, text: reason };
    return { name: 'testcase', attrs, children: [failure] };
  }
  if (summary.status === 'skipped' && counts.tests === 0) {
    counts.tests++;
    counts.skipped++;
    return { name: 'testcase', attrs, children: [{ name: 'skipped', attrs: { message: reason } }] };
  }
  return undefined;
}

function testsuite(summary: RunSummary, index: number): { element: XmlElement; counts: Counts } {
  const counts: Counts = { tests: 0, failures: 0, skipped: 0 };
  const cases = summary.steps.map((step) => testcase(summary.scenario, step, counts));
  const extra = runCase(summary, counts);
  if (extra) cases.push(extra);
  const props = [property('runId', summary.runId), property('status', summary.status)];
  if (summary.reason) props.push(property('reason', summary.reason));
  if (summary.suite) props.push(property('suite', summary.suite));
  props.push(...costProperties(summary.cost));
  const element: XmlElement = {
    name: 'testsuite',
    attrs: {
      name: summary.scenario,
      id: index,
      tests: counts.tests,
      failures: counts.failures,
      errors: 0,
      skipped: counts.skipped,
      time: formatSeconds(summary.durationMs),
      timestamp: summary.startedAt ?? summary.createdAt,
    },
    children: [{ name: 'properties', children: props }, ...cases],
  };
  return { element, counts };
}

/** JUnit XML for CI test reporters (SPEC §15): one testsuite per run, one testcase per step. */
export function toJunitXml(summaries: readonly RunSummary[], options: JunitOptions = {}): string {
  const suites = summaries.map(testsuite);
  const total = (key: keyof Counts) => suites.reduce((n, s) => n + s.counts[key], 0);
  const durationMs = summaries.reduce((n, s) => n + (s.durationMs ?? 0), 0);
  return renderXmlDocument({
    name: 'testsuites',
    attrs: {
      name: options.name ?? 'scenario-queue',
      tests: total('tests'),
      failures: total('failures'),
      errors: 0,
      skipped: total('skipped'),
      time: formatSeconds(durationMs),
    },
    children: suites.map((s) => s.element),
  });
}
