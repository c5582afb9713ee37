/** One scenario run inside a vitest test: credential gate → skip, enqueue, wait, attach the summary. */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScenario } from '../scenario/load.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import type { CostTotals, RunStatus, RunSummary, StepSummary } from '../engine/types.ts';
import { formatCost } from '../cli/reports/format.ts';
import { storedOutput } from '../engine/outputs.ts';
import type { ResolvedOptions } from './options.ts';
import type { Session } from './session.ts';

/** A finished run as a test sees it: the JSON summary of SPEC §15 plus helpers. */
export interface ScenarioResult extends RunSummary {
  readonly mode: 'live' | 'mock';
  /** Attempts beyond the first, over all steps. */
  readonly retries: number;
  /** The step's summary with its `output`; throws naming the known steps when there is none. */
  step(id: string): StepSummary;
}

/** What the fixture attaches to `task.meta.scenarioQueue.runs` for reporters. */
export interface ScenarioRunMeta {
  runId: string;
  scenario: string;
  status: RunStatus;
  mode: 'live' | 'mock';
  durationMs?: number;
  cost: CostTotals;
  retries: number;
  failedSteps: string[];
}

/** The slice of vitest's TestContext a run needs (kept narrow so it is easy to fake). */
export interface RunContext {
  readonly signal: AbortSignal;
  readonly task: { readonly timeout: number; readonly meta: { scenarioQueue?: { runs: ScenarioRunMeta[] } } };
  skip(note: string): never;
  annotate(message: string, type: string): Promise<unknown>;
}

const WAIT_MARGIN_MS = 1_000;

/** Credentials the run needs before it may start live: asked for by the test, or gated with `skip`. */
export function requiredCredentials(def: ScenarioDef, asked: readonly string[]): string[] {
  const names = new Set(asked);
  if (def.onMissingCredentials === 'skip') for (const c of def.credentials) names.add(c);
  for (const step of def.steps) if (step.onMissingCredentials === 'skip') for (const c of step.credentials) names.add(c);
  return [...names].sort();
}

function retriesOf(summary: RunSummary): number {
  return summary.steps.reduce((n, s) => n + Math.max(0, s.attempts - 1), 0);
}

function withBudget(def: ScenarioDef, options: ResolvedOptions): ScenarioDef {
  if (!options.budget) return def;
  const { onExceed, ...limits } = options.budget;
  return { ...def, budget: { ...def.budget, ...limits, onExceed: onExceed ?? def.budget?.onExceed ?? 'fail' } };
}

/** One line for reporters: verdict, duration, cost, retries, run id. */
export function annotationOf(result: ScenarioRunMeta): string {
  const seconds = result.durationMs === undefined ? '' : ` in ${(result.durationMs / 1000).toFixed(1)}s`;
  const failed = result.failedSteps.length ? ` · failed: ${result.failedSteps.join(', ')}` : '';
  return `${result.scenario} ${result.status}${seconds} (${result.mode}) · ${formatCost(result.cost)} · ${result.retries} ${result.retries === 1 ? 'retry' : 'retries'}${failed} · run ${result.runId}`;
}

async function waitBounded(session: Session, runId: string, context: RunContext, boundMs: number): Promise<RunSummary> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(context.signal.reason);
  context.signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => ac.abort(new Error('bound')), boundMs);
  try {
    return await session.client.wait(runId, { signal: ac.signal });
  } catch (e) {
    if (!ac.signal.aborted) throw e;
    // The test (or our bound before its timeout) gave up: do not leave the run spending money.
    await session.client.cancel(runId, `vitest gave up waiting after ${boundMs}ms`).catch(() => false);
    const summary = await session.client.status(runId);
    throw new Error(`scenario run ${runId} did not finish within ${boundMs}ms (status ${summary?.status ?? 'unknown'}); it was cancelled. Raise the test's timeout or the run's timeoutMs.`, { cause: e });
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', onAbort);
  }
}

/** A scenario file (path relative to cwd, or a file URL) or an already parsed scenario. */
export type ScenarioSource = string | URL | ScenarioDef;

async function scenarioOf(session: Session, source: ScenarioSource): Promise<ScenarioDef> {
  if (typeof source !== 'string' && !(source instanceof URL)) return source;
  const path = source instanceof URL ? fileURLToPath(source) : isAbsolute(source) ? source : resolve(process.cwd(), source);
  return loadScenario(path, { knownHandlers: await session.knownHandlers() });
}

/** Loads or takes a scenario, runs it per `options`, and reports into the test. */
export async function runInTest(session: Session, context: RunContext, source: ScenarioSource, options: ResolvedOptions): Promise<ScenarioResult> {
  const def = await scenarioOf(session, source);
  if (options.mode === 'live') {
    const available = await session.availableCredentials();
    const missing = requiredCredentials(def, options.credentials).filter((name) => !available.has(name));
    if (missing.length > 0) context.skip(`missing credentials: ${missing.join(', ')}`);
  }
  // The wait must end before the test's own timeout so the run is cancelled and reported, not orphaned.
  const testBoundMs = context.task.timeout > 0 ? context.task.timeout - WAIT_MARGIN_MS : Number.POSITIVE_INFINITY;
  const runTimeoutMs = Math.min(options.timeoutMs ?? def.timeoutMs, testBoundMs);
  const { runId } = await session.client.enqueue(withBudget(def, options), {
    input: { ...options.input },
    timeoutMs: runTimeoutMs,
    suite: options.suite,
    mock: options.mode === 'mock',
  });
  const summary = await waitBounded(session, runId, context, runTimeoutMs + WAIT_MARGIN_MS / 2);
  const retries = retriesOf(summary);
  const meta: ScenarioRunMeta = {
    runId,
    scenario: summary.scenario,
    status: summary.status,
    mode: options.mode,
    durationMs: summary.durationMs,
    cost: summary.cost,
    retries,
    failedSteps: summary.steps.filter((s) => ['failed', 'timed_out', 'cancelled'].includes(s.status) && !s.continued).map((s) => s.id),
  };
  (context.task.meta.scenarioQueue ??= { runs: [] }).runs.push(meta);
  await context.annotate(annotationOf(meta), 'scenario-queue');
  // Outputs are stored apart from the summary; a test usually asserts on them.
  const outputs = await session.client.redis.hgetall(session.client.keys.runOutputs(runId));
  const steps = summary.steps.map((s) => {
    const raw = storedOutput(s.status, outputs[s.id]);
    return raw === undefined ? s : { ...s, output: JSON.parse(raw) as unknown };
  });
  return {
    ...summary,
    steps,
    mode: options.mode,
    retries,
    step(id) {
      const found = steps.find((s) => s.id === id);
      if (!found) throw new Error(`run ${runId} has no step "${id}" (steps: ${steps.map((s) => s.id).join(', ')})`);
      return found;
    },
  };
}
