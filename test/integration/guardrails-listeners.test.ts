/**
 * Guardrail events reach in-process listeners (SPEC §14): `worker.on(type, fn)` sees the
 * budget, circuit and halt events that this worker's scripts wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScenarioEvent } from '../../src/engine/types.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { validateServices } from '../../src/guardrails/services-schema.ts';
import { useTestRedis } from '../support/context.ts';
import { eventually, startEngine, type Engine } from '../support/engine.ts';

const t = useTestRedis('guardrails-listeners', { scope: 'file' });
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine({ url: t.url, prefix: t.prefix, workers: 1, concurrency: 2 });
  await applyServices(engine.client.redis, engine.client.keys, validateServices({ services: { down: { circuitBreaker: { failureThreshold: 1, windowMs: 60_000, resetTimeoutMs: 60_000, whenOpen: 'fail' } } } }));
});

afterAll(() => engine?.close());

describe('guardrail events and in-process listeners', () => {
  it('worker.on sees budget.exceeded and circuit.opened as they happen', async () => {
    const seen: ScenarioEvent[] = [];
    const off = engine.workers[0].on('*', (e) => void seen.push(e));
    try {
      const run = await engine.run(
        `name: listened
budget: { calls: 0 }
steps:
  - { id: a, uses: fault, service: down, with: { failTimes: 1, kind: server_error } }
  - { id: b, uses: noop, cost: { calls: 1 }, needs: [a], if: "true" }`,
      );
      expect(run.summary.status).toBe('failed');
      await eventually(() => seen.some((e) => e.type === 'budget.exceeded'), 5_000, 'budget.exceeded seen');
      const circuit = seen.find((e) => e.type === 'circuit.opened');
      expect(circuit?.data).toMatchObject({ service: 'down', from: 'closed', to: 'open' });
      expect(seen.find((e) => e.type === 'budget.exceeded')).toMatchObject({ runId: run.runId, stepId: 'b', data: { scope: 'run', resource: 'calls' } });
    } finally {
      off();
    }
  });
});
