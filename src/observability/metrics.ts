/**
 * The Prometheus metrics of SPEC §17, in the project's own prom-client Registry.
 *
 * Where each metric is fed from (one source each, so nothing is counted twice):
 * - attempt observer in the worker (metrics-observer.ts): `sq_cost_*`, `sq_service_in_flight`,
 *   `sq_rate_limited_total` (the guard held an attempt back), `sq_credential_gate_total` for
 *   `mock`, `sq_stalled_jobs_total` (BullMQ's stalled checker of that worker);
 * - the global event stream, read through one consumer group shared by every process that
 *   serves metrics (event-metrics.ts), so each event is counted by exactly one process:
 *   `sq_runs_total`, `sq_run_duration_seconds`, `sq_steps_total`, `sq_step_duration_seconds`,
 *   `sq_step_retries_total`, `sq_circuit_transitions_total`, `sq_budget_exceeded_total`,
 *   `sq_recovery_actions_total`, and `sq_credential_gate_total` for `skip` (step or run skipped
 *   for missing credentials) and `fail` (step failed with kind credentials_missing);
 * - scrape time: `sq_queue_jobs` (BullMQ counts of watched queues), `sq_circuit_state`
 *   (sources registered with `addCircuitSource`: the breakers the guardrails keep in Redis).
 * Counters are per process: sum them over all scraped processes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'bullmq';
import type { CostTotals } from '../engine/types.ts';

export const METRIC_PREFIX = 'sq_';

/** `sq_circuit_state` values (SPEC §17). */
export const CIRCUIT_STATE_VALUES = { closed: 0, half_open: 1, open: 2 } as const;
export type CircuitState = keyof typeof CIRCUIT_STATE_VALUES;

/** BullMQ job states reported by `sq_queue_jobs`. */
export const QUEUE_STATES = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

/** The label value of a step or cost without a service. */
export const NO_SERVICE = 'none';

const RUN_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** A scrape never waits longer than this for Redis. */
const COLLECT_TIMEOUT_MS = 2_000;

const LABELS = {
  run: ['scenario', 'status'],
  step: ['handler', 'service', 'status'],
  retry: ['handler', 'service', 'kind'],
  cost: ['scenario', 'service'],
  tokens: ['scenario', 'service', 'direction'],
  budget: ['scope', 'resource', 'action'],
  service: ['service'],
  transition: ['service', 'to'],
  queueJobs: ['queue', 'state'],
  queue: ['queue'],
  action: ['action'],
} as const;

/** Label values come from names, never ids; anything odd is bounded so cardinality stays small. */
function label(value: unknown, fallback = 'unknown'): string {
  if (typeof value !== 'string' || value === '') return fallback;
  return value.length > 64 ? value.slice(0, 64) : value;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`metrics collection timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export type CircuitSource = () => Promise<Iterable<readonly [service: string, state: CircuitState]>>;

export interface MetricsOptions {
  /** Node.js process metrics (`sq_process_*`, `sq_nodejs_*`). @default true */
  readonly processMetrics?: boolean;
  /** Called when a scrape-time source fails; the last values stay. */
  readonly onCollectError?: (error: unknown) => void;
}

/** Creates every §17 metric in a fresh Registry; see the file comment for who feeds what. */
export function createMetrics(options: MetricsOptions = {}) {
  const registry = new Registry();
  const queues = new Set<Queue>();
  const circuitSources = new Set<CircuitSource>();
  const onCollectError = options.onCollectError ?? (() => {});

  const runs = new Counter({ name: 'sq_runs_total', help: 'Runs ended, by scenario and final status.', labelNames: LABELS.run, registers: [registry] });
  const runDuration = new Histogram({
    name: 'sq_run_duration_seconds',
    help: 'Wall time of ended runs from start (or creation, if never started) to end.',
    labelNames: LABELS.run,
    buckets: RUN_BUCKETS,
    registers: [registry],
  });
  const steps = new Counter({ name: 'sq_steps_total', help: 'Steps ended, by handler, service and final status.', labelNames: LABELS.step, registers: [registry] });
  const stepDuration = new Histogram({
    name: 'sq_step_duration_seconds',
    help: 'Wall time of ended steps from their first attempt start to their end, retries included.',
    labelNames: LABELS.step,
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const retries = new Counter({ name: 'sq_step_retries_total', help: 'Attempts that failed and were retried, by error kind.', labelNames: LABELS.retry, registers: [registry] });
  const costUsd = new Counter({ name: 'sq_cost_usd_total', help: 'Spend in US dollars reported by attempts.', labelNames: LABELS.cost, registers: [registry] });
  const costTokens = new Counter({ name: 'sq_cost_tokens_total', help: 'Tokens used by attempts, by direction (input or output).', labelNames: LABELS.tokens, registers: [registry] });
  const costCalls = new Counter({ name: 'sq_cost_calls_total', help: 'Calls to external services made by attempts.', labelNames: LABELS.cost, registers: [registry] });
  const budgetExceeded = new Counter({
    name: 'sq_budget_exceeded_total',
    help: 'Budget reservations that would pass a limit, by scope, resource and the action taken.',
    labelNames: LABELS.budget,
    registers: [registry],
  });
  const circuitState = new Gauge({
    name: 'sq_circuit_state',
    help: 'Circuit breaker state per service: 0 closed, 1 half-open, 2 open.',
    labelNames: LABELS.service,
    registers: [registry],
    async collect() {
      for (const source of circuitSources) {
        try {
          for (const [service, state] of await withTimeout(source(), COLLECT_TIMEOUT_MS)) circuitState.set({ service: label(service) }, CIRCUIT_STATE_VALUES[state]);
        } catch (e) {
          onCollectError(e);
        }
      }
    },
  });
  const circuitTransitions = new Counter({ name: 'sq_circuit_transitions_total', help: 'Circuit breaker transitions, by service and new state.', labelNames: LABELS.transition, registers: [registry] });
  const serviceInFlight = new Gauge({ name: 'sq_service_in_flight', help: 'Attempts of steps with a service running in this process now.', labelNames: LABELS.service, registers: [registry] });
  const rateLimited = new Counter({ name: 'sq_rate_limited_total', help: 'Attempts held back by a service rate limit.', labelNames: LABELS.service, registers: [registry] });
  const queueJobs = new Gauge({
    name: 'sq_queue_jobs',
    help: 'Jobs per BullMQ queue and state, counted at scrape time.',
    labelNames: LABELS.queueJobs,
    registers: [registry],
    async collect() {
      await Promise.all(
        [...queues].map(async (queue) => {
          try {
            const counts = await withTimeout(queue.getJobCounts(...QUEUE_STATES), COLLECT_TIMEOUT_MS);
            for (const state of QUEUE_STATES) queueJobs.set({ queue: queue.name, state }, counts[state] ?? 0);
          } catch (e) {
            onCollectError(e);
          }
        }),
      );
    },
  });
  const stalled = new Counter({ name: 'sq_stalled_jobs_total', help: "Jobs found stalled (their worker's lock expired) and moved back to wait.", labelNames: LABELS.queue, registers: [registry] });
  const recoveryActions = new Counter({ name: 'sq_recovery_actions_total', help: 'Repairs made by the reaper, by action.', labelNames: LABELS.action, registers: [registry] });
  const credentialGate = new Counter({
    name: 'sq_credential_gate_total',
    help: 'Credential gate decisions for missing credentials, by action (skip, mock, fail).',
    labelNames: LABELS.action,
    registers: [registry],
  });

  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
    // prom-client names a few gauges `…_total` (active handles); promtool rejects that suffix on non-counters.
    for (const metric of registry.getMetricsAsArray()) {
      if (metric.name.endsWith('_total') && !(metric instanceof Counter)) registry.removeSingleMetric(metric.name);
    }
  }

  const seconds = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) || ms < 0 ? undefined : ms / 1000);

  return {
    registry,
    contentType: registry.contentType,
    /** The Prometheus text exposition, scrape-time sources included. */
    render: () => registry.metrics(),
    /** Counts `queue`'s jobs by state at every scrape. */
    watchQueue(queue: Queue): () => void {
      queues.add(queue);
      return () => queues.delete(queue);
    },
    /** Adds a scrape-time source of breaker states (shared state in Redis, so every process reports the same). */
    addCircuitSource(source: CircuitSource): () => void {
      circuitSources.add(source);
      return () => circuitSources.delete(source);
    },
    runEnded(scenario: string, status: string, durationMs?: number): void {
      const labels = { scenario: label(scenario), status: label(status) };
      runs.inc(labels);
      const s = seconds(durationMs);
      if (s !== undefined) runDuration.observe(labels, s);
    },
    stepEnded(handler: string, service: string | undefined, status: string, durationMs?: number): void {
      const labels = { handler: label(handler), service: label(service, NO_SERVICE), status: label(status) };
      steps.inc(labels);
      const s = seconds(durationMs);
      if (s !== undefined) stepDuration.observe(labels, s);
    },
    stepRetried(handler: string, service: string | undefined, kind: string): void {
      retries.inc({ handler: label(handler), service: label(service, NO_SERVICE), kind: label(kind) });
    },
    cost(scenario: string, service: string | undefined, cost: CostTotals): void {
      const labels = { scenario: label(scenario), service: label(service, NO_SERVICE) };
      if (cost.usd > 0) costUsd.inc(labels, cost.usd);
      if (cost.tokens.input > 0) costTokens.inc({ ...labels, direction: 'input' }, cost.tokens.input);
      if (cost.tokens.output > 0) costTokens.inc({ ...labels, direction: 'output' }, cost.tokens.output);
      if (cost.calls > 0) costCalls.inc(labels, cost.calls);
    },
    budgetExceeded(scope: string, resource: string, action: string): void {
      budgetExceeded.inc({ scope: label(scope), resource: label(resource), action: label(action) });
    },
    circuitTransition(service: string, to: CircuitState): void {
      circuitTransitions.inc({ service: label(service), to });
    },
    circuitState(service: string, state: CircuitState): void {
      circuitState.set({ service: label(service) }, CIRCUIT_STATE_VALUES[state]);
    },
    serviceInFlight(service: string, delta: 1 | -1): void {
      serviceInFlight.inc({ service: label(service) }, delta);
    },
    rateLimited(service: string): void {
      rateLimited.inc({ service: label(service) });
    },
    stalledJob(queue: string): void {
      stalled.inc({ queue: label(queue) });
    },
    recoveryAction(action: string, count = 1): void {
      if (count > 0) recoveryActions.inc({ action: label(action) }, count);
    },
    credentialGate(action: 'skip' | 'mock' | 'fail'): void {
      credentialGate.inc({ action });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

let shared: Metrics | undefined;

/** The process-wide metrics that `worker --metrics-port` and `api` serve; created on first use. */
export function processMetrics(): Metrics {
  shared ??= createMetrics();
  return shared;
}
