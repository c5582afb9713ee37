import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { ScenarioEvent } from '../../src/engine/types.ts';
import { parseEvent } from '../../src/engine/events.ts';
import { useTestRedis } from '../support/context.ts';
import { eventually, startEngine, within, type Engine } from '../support/engine.ts';

// One prefix per test: listener tests need the steps to run on the worker that holds the listeners.
const t = useTestRedis('engine-events');

/** A pino logger whose records land in `lines`. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('events (SPEC §14)', () => {
  let engine: Engine;
  beforeEach(async () => {
    engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 4 });
  });
  afterEach(() => engine?.close());

  it('a run emits its events in order: queued, started, each step queued→started→succeeded, succeeded', async () => {
    const run = await engine.run(`
name: ordered
steps:
  - { id: a, uses: echo, with: { v: 1 } }
  - { id: b, uses: noop, needs: [a] }
`);
    expect(run.events.map((e) => [e.type, e.stepId ?? ''])).toEqual([
      ['run.queued', ''],
      ['step.queued', 'a'],
      ['run.started', ''],
      ['step.started', 'a'],
      ['step.succeeded', 'a'],
      ['step.queued', 'b'],
      ['step.started', 'b'],
      ['step.succeeded', 'b'],
      ['run.succeeded', ''],
    ]);
    for (const e of run.events) {
      expect(e.runId).toBe(run.runId);
      expect(typeof e.ts).toBe('number');
      if (e.stepId) expect(e.attempt).toBe(1);
    }
    expect(run.events.find((e) => e.type === 'run.queued')?.data).toEqual({ scenario: 'ordered' });
    // Events written by a worker name it; timestamps never go backwards.
    const workerId = engine.workers[0].workerId;
    expect(run.events.filter((e) => e.type === 'step.started').every((e) => e.workerId === workerId)).toBe(true);
    const ts = run.events.map((e) => e.ts);
    expect([...ts].sort((x, y) => x - y)).toEqual(ts);
  });

  it('per step the order is always queued → started → (retrying → started)* → terminal, in a diamond with retries', async () => {
    const run = await engine.run(`
name: diamond-order
steps:
  - { id: top, uses: noop }
  - id: left
    uses: fault
    needs: [top]
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 20, jitter: none } }
    with: { failTimes: 1, kind: transient }
  - { id: right, uses: sleep, needs: [top], with: { ms: 50 } }
  - { id: join, uses: noop, needs: [left, right] }
`);
    expect(run.summary.status).toBe('succeeded');
    const perStep = (id: string) => run.events.filter((e) => e.stepId === id).map((e) => e.type);
    expect(perStep('top')).toEqual(['step.queued', 'step.started', 'step.succeeded']);
    expect(perStep('left')).toEqual(['step.queued', 'step.started', 'step.retrying', 'step.started', 'step.succeeded']);
    expect(perStep('right')).toEqual(['step.queued', 'step.started', 'step.succeeded']);
    expect(perStep('join')).toEqual(['step.queued', 'step.started', 'step.succeeded']);
    expect(run.events[0].type).toBe('run.queued');
    expect(run.events.at(-1)?.type).toBe('run.succeeded');
    expect(run.events.filter((e) => e.type.startsWith('run.')).map((e) => e.type)).toEqual(['run.queued', 'run.started', 'run.succeeded']);
  });

  it('every event also goes to the global stream', async () => {
    const run = await engine.run(`
name: global
steps:
  - { id: a, uses: noop }
`);
    const entries = (await t.redis.xrange(engine.client.keys.globalEvents, '-', '+')) as [string, string[]][];
    const mine = entries.map(([id, fields]) => parseEvent(id, fields)).filter((e) => e.runId === run.runId);
    expect(mine.map((e) => e.type)).toEqual(run.events.map((e) => e.type));
  });

  it('client.events follows a run live until it ends', async () => {
    const def = engine.scenario(`
name: followed
steps:
  - { id: a, uses: sleep, with: { ms: 200 } }
  - { id: b, uses: noop, needs: [a] }
`);
    const { runId } = await engine.client.enqueue(def);
    const seen: ScenarioEvent[] = [];
    await within((async () => {
      for await (const e of engine.client.events(runId, { follow: true })) seen.push(e);
    })(), 15_000, 'follow');
    expect(seen.at(-1)?.type).toBe('run.succeeded');
    expect(seen.filter((e) => e.type === 'step.succeeded').map((e) => e.stepId)).toEqual(['a', 'b']);
  });
});

describe('in-process listeners (SPEC §14)', () => {
  it('a throwing, rejecting or never-settling listener is logged and skipped; execution goes on', async () => {
    const { logger, lines } = capturingLogger();
    const engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 4, logger });
    try {
      const worker = engine.workers[0];
      const seen: string[] = [];
      worker.on('*', (e) => void seen.push(`${e.type}:${e.stepId ?? ''}`));
      worker.on('step.started', () => {
        throw new Error('listener bug');
      });
      worker.on('step.succeeded', async () => {
        throw new Error('async listener bug');
      });
      // Never settles: if execution awaited listeners, nothing would finish.
      worker.on('*', () => new Promise(() => {}));

      const runs = await within(
        Promise.all([1, 2, 3].map(() => engine.run(`
name: with-listeners
steps:
  - { id: a, uses: echo, with: { v: 1 } }
  - { id: b, uses: noop, needs: [a] }
`))),
        20_000,
        'runs with bad listeners',
      );
      for (const run of runs) expect(run.summary.status).toBe('succeeded');
      expect(seen.filter((s) => s === 'step.started:a')).toHaveLength(3);
      expect(seen.filter((s) => s === 'run.succeeded:')).toHaveLength(3);
      await eventually(() => lines.some((l) => l.msg === 'event listener rejected'), 5_000, 'rejection logged');
      expect(lines.filter((l) => l.msg === 'event listener threw').length).toBeGreaterThanOrEqual(6);
    } finally {
      await engine.close();
    }
  });

  it('a slow synchronous listener delays nothing it is not given: runs still finish and every event arrives', async () => {
    const engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
    try {
      let calls = 0;
      engine.workers[0].on('*', () => {
        calls++;
        const until = Date.now() + 20;
        while (Date.now() < until) {
          // Busy: a listener doing CPU work inline.
        }
      });
      const run = await engine.run(`
name: slow-listener
steps:
  - { id: a, uses: noop }
  - { id: b, uses: noop, needs: [a] }
`);
      expect(run.summary.status).toBe('succeeded');
      expect(calls).toBe(run.events.filter((e) => e.workerId !== undefined).length);
    } finally {
      await engine.close();
    }
  });

  it('unsubscribing stops delivery', async () => {
    const engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1 });
    try {
      let calls = 0;
      const off = engine.workers[0].on('*', () => void calls++);
      off();
      await engine.run(`
name: unsubscribed
steps:
  - { id: a, uses: noop }
`);
      expect(calls).toBe(0);
    } finally {
      await engine.close();
    }
  });
});
