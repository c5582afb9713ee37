import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress, createSuiteProgress, formatEventLine } from '../../src/cli/progress/index.ts';
import { renderFrame } from '../../src/cli/progress/frame.ts';
import { applyEvent, createRunView } from '../../src/cli/progress/state.ts';
import { createPalette } from '../../src/cli/reports/color.ts';
import type { ScenarioEvent } from '../../src/engine/types.ts';

// Local wall-clock times, so expected lines do not depend on the machine's time zone.
const at = (h: number, m: number, s: number, ms: number) => new Date(2024, 4, 1, h, m, s, ms).getTime();
const T0 = at(12, 0, 0, 0);
const RUN = 'checkout-lx1-aaaa';

function ev(type: ScenarioEvent['type'], offsetMs: number, rest: Partial<ScenarioEvent> = {}): ScenarioEvent {
  return { type, ts: T0 + offsetMs, runId: RUN, data: {}, ...rest };
}

const journey: ScenarioEvent[] = [
  ev('run.queued', 0, { data: { scenario: 'checkout' } }),
  ev('step.queued', 1, { stepId: 'login', attempt: 1 }),
  ev('run.started', 10),
  ev('step.started', 10, { stepId: 'login', attempt: 1, workerId: 'w-1' }),
  ev('step.retrying', 1234, { stepId: 'login', attempt: 1, data: { kind: 'server_error', message: 'HTTP 503', delayMs: 1000 } }),
  ev('step.started', 2300, { stepId: 'login', attempt: 2 }),
  ev('step.succeeded', 2400, { stepId: 'login', attempt: 2 }),
  ev('step.skipped', 2401, { stepId: 'pay', data: { reason: 'condition_false' } }),
  ev('run.succeeded', 2402),
];

function capture(tty: boolean, extra: { columns?: number; rows?: number } = {}) {
  const stream = Object.assign(new PassThrough(), extra);
  let out = '';
  stream.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  return { stream, output: () => out };
}

// Every frame ends by erasing below it, so this counts redraws.
const frames = (out: string) => out.split('\u001b[J').length - 1;
const ANSI = /\u001b\[/;

describe('formatEventLine', () => {
  it('writes time, type, step, attempt, then data fields with the message last', () => {
    expect(formatEventLine(journey[4])).toBe('12:00:01.234 step.retrying login attempt=1 kind=server_error delayMs=1000 message="HTTP 503"');
    expect(formatEventLine(journey[0])).toBe('12:00:00.000 run.queued scenario=checkout');
    expect(formatEventLine(journey[7], { label: 'checkout' })).toBe('12:00:02.401 [checkout] step.skipped pay reason=condition_false');
  });

  it('keeps a multi-line or hostile message on one line, quoted and cut', () => {
    const line = formatEventLine(ev('step.failed', 0, { stepId: 's', data: { message: `bad\nthing \u001b[31m"x"${'y'.repeat(300)}`, kind: 'error' } }));
    expect(line.split('\n')).toHaveLength(1);
    expect(line).not.toMatch(ANSI);
    expect(line.startsWith('12:00:00.000 step.failed s kind=error message="bad thing \\"x\\"yyy')).toBe(true);
    expect(line.endsWith('…"')).toBe(true);
  });
});

describe('createProgress (not a TTY)', () => {
  it('prints exactly one plain line per event', () => {
    const { stream, output } = capture(false);
    const progress = createProgress({ tty: false, stream, runId: RUN, scenario: 'checkout', steps: ['login', 'pay'] });
    for (const e of journey) progress.onEvent(e);
    progress.done();
    const lines = output().split('\n').slice(0, -1);
    expect(lines).toHaveLength(journey.length);
    expect(lines).toEqual(journey.map((e) => formatEventLine(e)));
    expect(lines[4]).toBe('12:00:01.234 step.retrying login attempt=1 kind=server_error delayMs=1000 message="HTTP 503"');
    expect(output()).not.toMatch(ANSI);
  });

  it('prints hints as timestamped lines and nothing after done', () => {
    const { stream, output } = capture(false);
    const progress = createProgress({ tty: false, stream, runId: RUN, scenario: 'checkout', steps: [], now: () => at(12, 0, 30, 5) });
    progress.onHint('no live workers\nqueue depth 3');
    progress.done();
    progress.onEvent(journey[0]);
    expect(output()).toBe('12:00:30.005 hint no live workers\n12:00:30.005 hint queue depth 3\n');
  });

  it('labels lines by scenario when a suite shows several runs', () => {
    const { stream, output } = capture(false);
    const suite = createSuiteProgress({
      tty: false,
      stream,
      runs: [
        { runId: RUN, scenario: 'checkout', steps: ['login'] },
        { runId: 'smoke-1', scenario: 'smoke', steps: ['ping'] },
      ],
    });
    suite.onEvent(journey[1]);
    suite.forRun('smoke-1').onEvent({ type: 'step.started', ts: T0, stepId: 'ping', attempt: 1, data: {} });
    expect(output().split('\n').slice(0, -1)).toEqual(['12:00:00.001 [checkout] step.queued login attempt=1', '12:00:00.000 [smoke] step.started ping attempt=1']);
  });
});

describe('createProgress (TTY)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('redraws a step table in place with cursor movement and leaves the final state on screen', () => {
    const { stream, output } = capture(true, { columns: 120, rows: 40 });
    const progress = createProgress({ tty: true, stream, color: false, runId: RUN, scenario: 'checkout', steps: ['login', 'pay'] });
    vi.advanceTimersByTime(0);
    expect(frames(output())).toBe(1);
    expect(output()).toContain('login  pending');
    for (const e of journey.slice(0, 5)) progress.onEvent(e);
    vi.advanceTimersByTime(150);
    expect(output()).toContain('\u001b[4A\r\u001b[2K');
    expect(output()).toMatch(/login +retrying +2 +.* server_error, retry in 1000ms/);
    for (const e of journey.slice(5)) progress.onEvent(e);
    progress.done();
    const last = output().slice(output().lastIndexOf('\r'));
    expect(last).toContain('checkout  checkout-lx1-aaaa  succeeded  2.4s');
    expect(last).toMatch(/login +succeeded +2 +2\.4s/);
    expect(last).toMatch(/pay +skipped +- +- +condition_false/);
    expect(last.endsWith('\n\u001b[J')).toBe(true);
    const before = output();
    vi.advanceTimersByTime(5000);
    expect(output()).toBe(before);
  });

  it('throttles bursts of events to at most one redraw per window', () => {
    const { stream, output } = capture(true);
    const progress = createProgress({ tty: true, stream, color: false, throttleMs: 100, runId: RUN, scenario: 'checkout', steps: ['login'] });
    vi.advanceTimersByTime(0);
    for (let i = 0; i < 50; i++) progress.onEvent(ev('step.started', i, { stepId: 'login', attempt: 1 }));
    vi.advanceTimersByTime(99);
    expect(frames(output())).toBe(1);
    vi.advanceTimersByTime(1);
    expect(frames(output())).toBe(2);
    vi.advanceTimersByTime(900);
    expect(frames(output())).toBeLessThanOrEqual(3);
    progress.done();
  });

  it('ticks elapsed times while a step runs, without events', () => {
    const { stream, output } = capture(true);
    const progress = createProgress({ tty: true, stream, color: false, runId: RUN, scenario: 'checkout', steps: ['login'] });
    progress.onEvent(ev('step.started', 0, { stepId: 'login', attempt: 1 }));
    vi.advanceTimersByTime(3050);
    expect(output()).toMatch(/login +running +1 +3\.0s/);
    progress.done();
  });

  it('shows the triage hint under the table', () => {
    const { stream, output } = capture(true);
    const progress = createProgress({ tty: true, stream, color: false, runId: RUN, scenario: 'checkout', steps: ['login'] });
    progress.onHint('no live workers have sent a heartbeat for 30s');
    progress.done();
    expect(output()).toContain('hint: no live workers have sent a heartbeat for 30s\n');
  });

  it('draws one table per run of a suite, and forRun handles end the view when all are done', () => {
    const { stream, output } = capture(true);
    const suite = createSuiteProgress({
      tty: true,
      stream,
      color: false,
      runs: [
        { runId: RUN, scenario: 'checkout', steps: ['login'] },
        { runId: 'smoke-1', scenario: 'smoke', steps: ['ping'] },
      ],
    });
    const a = suite.forRun(RUN);
    const b = suite.forRun('smoke-1');
    b.onEvent({ type: 'step.succeeded', ts: T0, stepId: 'ping', attempt: 1, data: {} });
    a.onEvent(journey[1]);
    a.done();
    vi.advanceTimersByTime(200);
    const frame = output().slice(output().lastIndexOf('\r'));
    expect(frame).toMatch(/checkout  checkout-lx1-aaaa  queued[\s\S]*login +queued[\s\S]*smoke  smoke-1  queued[\s\S]*ping +succeeded/);
    b.done();
    const after = output();
    vi.advanceTimersByTime(5000);
    expect(output()).toBe(after);
    expect(() => suite.forRun('nope')).toThrow(/unknown run "nope"/);
  });
});

describe('renderFrame', () => {
  const view = () => {
    const run = createRunView(RUN, 'checkout', Array.from({ length: 30 }, (_, i) => `step-${i}`));
    for (let i = 0; i < 28; i++) applyEvent(run, ev('step.succeeded', 0, { stepId: `step-${i}`, attempt: 1 }));
    applyEvent(run, ev('step.started', 0, { stepId: 'step-28', attempt: 1 }));
    return run;
  };

  it('collapses quiet steps when the table would not fit the terminal', () => {
    const lines = renderFrame([view()], { now: T0, palette: createPalette(false), rows: 10 });
    expect(lines.length).toBeLessThan(10);
    expect(lines.some((l) => /step-28 +running/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('  … 29 more (28 succeeded, 1 pending)');
  });

  it('cuts lines to the terminal width so cursor movement stays exact', () => {
    const run = view();
    applyEvent(run, ev('step.failed', 0, { stepId: 'step-29', attempt: 1, data: { kind: 'error', reason: 'x'.repeat(200) } }));
    const lines = renderFrame([run], { now: T0, palette: createPalette(true), columns: 40 });
    for (const l of lines) expect(l.replace(/\u001b\[[0-9;]*m/g, '').length).toBeLessThan(40);
  });

  it('adds steps that events name but the caller did not list', () => {
    const run = createRunView(RUN, 'checkout', ['a']);
    applyEvent(run, ev('step.queued', 0, { stepId: 'b', attempt: 1 }));
    applyEvent(run, { ...ev('step.queued', 0, { stepId: 'c', attempt: 1 }), runId: 'other-run' });
    expect(run.steps.map((s) => [s.id, s.status])).toEqual([
      ['a', 'pending'],
      ['b', 'queued'],
    ]);
  });
});
