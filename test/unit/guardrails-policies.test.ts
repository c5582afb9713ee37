import { describe, expect, it } from 'vitest';
import { parseServices } from '../../src/guardrails/services-schema.ts';
import { isScenarioValidationError } from '../../src/scenario/errors.ts';
import { actualOf, estimateOf } from '../../src/guardrails/cost.ts';
import { enqueueGates, missingOnWorkers } from '../../src/guardrails/credentials.ts';
import { redactSecrets, registerSecrets } from '../../src/guardrails/redact.ts';
import { breakerOutcome } from '../../src/guardrails/attempt-guard.ts';
import { requestHash } from '../../src/guardrails/recordings.ts';
import { templateSecrets } from '../../src/worker/guard.ts';
import { llm } from '../../src/handlers/builtin/llm.ts';
import { parseTestScenario } from '../support/engine.ts';
import type { WorkerInfo } from '../../src/worker/heartbeat.ts';

function issuesOf(text: string): string[] {
  try {
    parseServices(text, 'services.yaml');
  } catch (e) {
    if (isScenarioValidationError(e)) return e.format().split('\n');
    throw e;
  }
  return [];
}

describe('services.yaml schema', () => {
  it('accepts the SPEC §8 example and fills defaults', () => {
    const config = parseServices(`services:
  openai:
    rateLimit: { max: 60, perMs: 60000 }
    maxConcurrency: 8
    circuitBreaker: { failureThreshold: 5, windowMs: 60000, resetTimeoutMs: 30000 }
    pricing: { gpt-4o-mini: { inputPerMTok: 0.15, outputPerMTok: 0.60 } }
budgets:
  daily: { usd: 100, onExceed: halt }
maxConcurrentCalls: 32
`);
    expect(config.services.openai.circuitBreaker).toEqual({ failureThreshold: 5, windowMs: 60000, resetTimeoutMs: 30000, halfOpenMaxCalls: 1, whenOpen: 'wait' });
    expect(config.budgets.daily).toEqual({ usd: 100, onExceed: 'halt' });
  });

  it('names every problem by its path, all at once', () => {
    expect(
      issuesOf(`services:
  openai:
    rateLimit: { max: 0, perMs: 1000 }
    maxConcurency: 3
    circuitBreaker: { failureThreshold: 2, windowMs: 1000, resetTimeoutMs: 1000, whenOpen: later }
budgets: { daily: { onExceed: halt } }
`),
    ).toEqual([
      'services.yaml: services.openai.rateLimit.max: must be ≥ 1, got 0',
      'services.yaml: services.openai.circuitBreaker.whenOpen: must be one of "wait", "fail", got "later"',
      'services.yaml: services.openai.maxConcurency: unknown field (did you mean "maxConcurrency"?)',
      'services.yaml: budgets.daily: give at least one of usd, tokens, calls',
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(issuesOf('services: [')[0]).toMatch(/^services\.yaml: YAML syntax error at line 1/);
  });
});

describe('cost', () => {
  const pricing = { 'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 } };

  it('estimates llm steps from maxTokens at the dearer rate, and takes cost: as given', () => {
    expect(estimateOf(undefined, llm, { model: 'gpt-4o-mini', prompt: 'hi', maxTokens: 1000 }, pricing)).toEqual({ usdMicro: 600, tokens: 1000, calls: 1 });
    expect(estimateOf({ usd: 0.01, calls: 2 }, llm, { model: 'gpt-4o-mini', prompt: 'hi' }, pricing)).toEqual({ usdMicro: 10_000, tokens: 0, calls: 2 });
  });

  it('prices reported tokens by the model, and keeps a handler-reported usd', () => {
    const actual = actualOf([{ tokens: { input: 1000, output: 500 }, calls: 1, model: 'gpt-4o-mini' }, { usd: 0.5, calls: 1 }], pricing, {});
    expect(actual).toEqual({ usd: 0.00015 + 0.0003 + 0.5, tokens: { input: 1000, output: 500 }, calls: 2 });
  });
});

describe('credential gates', () => {
  const worker = (credentials: string[]): WorkerInfo => ({ workerId: credentials.join('+'), hostname: 'h', pid: 1, concurrency: 1, startedAt: 0, lastSeen: 0, handlers: [], credentials, inflight: 0 });

  it('needs one worker holding every name of a step', () => {
    expect(missingOnWorkers(['A', 'B'], [worker(['A', 'B'])])).toEqual([]);
    expect(missingOnWorkers(['A', 'B', 'C'], [worker(['A'])])).toEqual(['B', 'C']);
    expect(missingOnWorkers(['A', 'B'], [worker(['A']), worker(['B'])])).toEqual(['A', 'B']);
  });

  it('decides per policy, and defers to the workers when none is live', () => {
    const def = parseTestScenario(`name: g
steps:
  - { id: s, uses: noop, credentials: [K], onMissingCredentials: skip }
  - { id: m, uses: noop, credentials: [K], onMissingCredentials: mock }
  - { id: f, uses: noop, credentials: [K], onMissingCredentials: fail }
  - { id: ok, uses: noop, credentials: [HELD] }`);
    const gates = enqueueGates(def, [worker(['HELD'])]);
    expect(gates.mock).toEqual(['m']);
    expect(gates.steps.map((g) => [g.id, g.action, g.missing])).toEqual([['s', 'skip', ['K']], ['f', 'fail', ['K']]]);
    expect(enqueueGates(def, [])).toEqual({ steps: [], mock: [] });
    const whole = parseTestScenario('name: w\ncredentials: [K]\nsteps:\n  - { id: a, uses: noop }');
    expect(enqueueGates(whole, [worker(['HELD'])]).skipRun?.missing).toEqual(['K']);
  });
});

describe('redaction', () => {
  it('replaces raw, JSON-escaped and URL-encoded forms of a registered secret', () => {
    registerSecrets({ API_TOKEN: 'sk-"quoted"/x y' });
    expect(redactSecrets('raw sk-"quoted"/x y')).toBe('raw [redacted:API_TOKEN]');
    expect(redactSecrets(JSON.stringify({ auth: 'Bearer sk-"quoted"/x y' }))).toBe('{"auth":"Bearer [redacted:API_TOKEN]"}');
    expect(redactSecrets(`?key=${encodeURIComponent('sk-"quoted"/x y')}`)).toBe('?key=[redacted:API_TOKEN]');
  });
});

describe('recordings', () => {
  it('a request hashes the same whether the worker held the secret or renders its placeholder', () => {
    registerSecrets({ REC_KEY: 'rec-secret-value' });
    const header = (secrets: Record<string, string>) => ({ url: 'http://x/y', headers: { authorization: `Bearer ${secrets.REC_KEY}` } });
    const live = header(templateSecrets(['REC_KEY'], { REC_KEY: 'rec-secret-value' }));
    const withoutIt = header(templateSecrets(['REC_KEY'], {}));
    expect(withoutIt.headers.authorization).toBe('Bearer [redacted:REC_KEY]');
    expect(requestHash('http', live)).toBe(requestHash('http', withoutIt));
    expect(requestHash('http', { b: 1, a: 2 })).toBe(requestHash('http', { a: 2, b: 1 }));
  });
});

describe('breaker outcomes', () => {
  const failed = (kind: string, details?: Record<string, unknown>) => ({ ok: false, usage: [], durationMs: 1, failure: { kind, message: '', retryable: false, details } }) as never;
  it('counts transient failures, and nothing for aborts, input errors and run deadlines', () => {
    expect(breakerOutcome({ ok: true, usage: [], durationMs: 1 })).toBe('ok');
    expect(breakerOutcome(failed('server_error'))).toBe('transient');
    expect(breakerOutcome(failed('timeout', { level: 'attempt' }))).toBe('transient');
    expect(breakerOutcome(failed('timeout', { level: 'run' }))).toBe('none');
    expect(breakerOutcome(failed('client_error'))).toBe('other');
    for (const kind of ['cancelled', 'halted', 'invalid_input']) expect(breakerOutcome(failed(kind))).toBe('none');
  });
});
