import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import { artifactIndex, type ArtifactRecord } from '../worker/artifacts.ts';
import type { LogEntry } from '../worker/attempt-log.ts';
import { parseEvent } from './events.ts';
import { storedOutput } from './outputs.ts';
import type { AttemptRecord } from './store.ts';
import { readRun, summarize } from './summary.ts';
import type { RunSummary, ScenarioEvent } from './types.ts';

export const BUNDLE_VERSION = 1;

/**
 * The failure bundle of SPEC §12: everything known about a run in one JSON document, so a
 * failed CI run can be understood (and resumed) without access to Redis. Secrets were
 * redacted by the workers before anything was stored.
 */
export interface FailureBundle {
  bundleVersion: typeof BUNDLE_VERSION;
  generatedAt: string;
  runId: string;
  summary: RunSummary;
  /** The resolved scenario the run executed (defaults merged). */
  scenario: ScenarioDef;
  input: Record<string, unknown>;
  /** Every attempt of every step: kind, message, stack, timing, worker, retry delay. */
  attempts: Record<string, AttemptRecord[]>;
  /** Outputs of the steps that produced one (succeeded or reused). */
  outputs: Record<string, unknown>;
  /** `ctx.checkpoint` data per step and attempt: the partial progress of attempts that died. */
  checkpoints: Record<string, { attempt: number; ts: number; data: unknown }[]>;
  /** Handler log lines per step and attempt (capped). */
  logs: Record<string, { attempt: number; lines: string[] }[]>;
  artifacts: Omit<ArtifactRecord, 'base64'>[];
  /** The run's events up to the end. */
  timeline: ScenarioEvent[];
  cost: { run: RunSummary['cost']; steps: Record<string, NonNullable<RunSummary['steps'][number]['cost']>> };
  /** Budget scopes of the run as stored by the guardrails (limits, committed spend). */
  budget: { run: Record<string, string>; suite?: Record<string, string> };
  /** Circuit breaker state of each service the scenario uses, as stored by the guardrails. */
  circuits: Record<string, Record<string, string>>;
}

/** Splits `<stepId>|<attempt>` fields (step ids never contain `|`) into per-step lists by attempt. */
function byStepAndAttempt<T>(hash: Record<string, string>, entry: (attempt: number, raw: string) => T): Record<string, (T & { attempt: number })[]> {
  const out: Record<string, (T & { attempt: number })[]> = {};
  for (const [field, raw] of Object.entries(hash)) {
    const bar = field.lastIndexOf('|');
    if (bar <= 0) continue;
    const attempt = Number(field.slice(bar + 1));
    (out[field.slice(0, bar)] ??= []).push({ ...entry(attempt, raw), attempt });
  }
  for (const list of Object.values(out)) list.sort((a, b) => a.attempt - b.attempt);
  return out;
}

function groupLogs(raw: string[]): FailureBundle['logs'] {
  const out: FailureBundle['logs'] = {};
  for (const item of raw) {
    const { step, attempt, line } = JSON.parse(item) as LogEntry;
    const list = (out[step] ??= []);
    let entry = list.find((e) => e.attempt === attempt);
    if (!entry) list.push((entry = { attempt, lines: [] }));
    entry.lines.push(line);
  }
  for (const list of Object.values(out)) list.sort((a, b) => a.attempt - b.attempt);
  return out;
}

/** Reads everything of a run into one bundle; undefined when the run does not exist (any more). */
export async function buildBundle(redis: RedisConnection, keys: Keys, runId: string): Promise<FailureBundle | undefined> {
  const snapshot = await readRun(redis, keys, runId);
  if (!snapshot) return undefined;
  const services = [...new Set(snapshot.def.steps.flatMap((s) => (s.service ? [s.service] : [])))];
  const suite = snapshot.run.suite;
  const tx = redis
    .multi()
    .hgetall(keys.runOutputs(runId))
    .hgetall(keys.runCheckpoints(runId))
    .lrange(keys.runLogs(runId), 0, -1)
    .hgetall(keys.runArtifacts(runId))
    .xrange(keys.runEvents(runId), '-', '+')
    .hgetall(keys.guard.run(runId).budget)
    .hgetall(keys.guard.suite(suite ?? '').budget);
  for (const service of services) tx.hgetall(keys.guard.service(service).breaker);
  const results = ((await tx.exec()) ?? []).map(([err, value]) => {
    if (err) throw err;
    return value;
  });
  const [outputs, checkpoints, logs, artifacts, events, runBudget, suiteBudget, ...breakers] = results as [
    Record<string, string>,
    Record<string, string>,
    string[],
    Record<string, string>,
    [string, string[]][],
    Record<string, string>,
    Record<string, string>,
    ...Record<string, string>[],
  ];
  const summary = summarize(runId, snapshot);
  const stepCosts = Object.fromEntries(summary.steps.flatMap((s) => (s.cost ? [[s.id, s.cost]] : [])));
  return {
    bundleVersion: BUNDLE_VERSION,
    generatedAt: new Date().toISOString(),
    runId,
    summary,
    scenario: snapshot.def,
    input: snapshot.input,
    attempts: byStepAndAttempt(snapshot.attempts, (_, raw) => JSON.parse(raw) as AttemptRecord),
    outputs: Object.fromEntries(
      snapshot.def.steps.flatMap(({ id }) => {
        const raw = storedOutput(snapshot.steps[`st|${id}`], outputs[id]);
        return raw === undefined ? [] : [[id, JSON.parse(raw) as unknown]];
      }),
    ),
    checkpoints: byStepAndAttempt(checkpoints, (_, raw) => JSON.parse(raw) as { ts: number; data: unknown }),
    logs: groupLogs(logs),
    artifacts: artifactIndex(artifacts),
    timeline: events.map(([id, fields]) => parseEvent(id, fields)),
    cost: { run: summary.cost, steps: stepCosts },
    budget: { run: runBudget, ...(suite ? { suite: suiteBudget } : {}) },
    circuits: Object.fromEntries(services.map((service, i) => [service, breakers[i]])),
  };
}
