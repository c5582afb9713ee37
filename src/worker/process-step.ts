import { DelayedError, type Job, type Queue } from 'bullmq';
import type { RedisConnection } from '../redis/connection.ts';
import type { Logger } from 'pino';
import { ScenarioError, isScenarioError, toFailure, type Failure } from '../errors.ts';
import type { HandlerContext, Usage } from '../handlers/types.ts';
import type { HandlerRegistry } from '../handlers/registry.ts';
import { compileExpression, prepareContext, type PreparedContext } from '../scenario/cel.ts';
import { nextRetry } from '../engine/backoff.ts';
import { enqueueSteps, scheduleDeadline, stepHints, type StepJobData } from '../engine/jobs.ts';
import { loadStepContexts } from '../engine/run-context.ts';
import { parseResult, staticOf, type AttemptOutcome, type AttemptRecord, type RunStore, type ScriptInvocation, type TransitionResult } from '../engine/store.ts';
import type { Keys } from '../redis/keys.ts';
import type { CostTotals } from '../engine/types.ts';
import type { CompiledStep } from '../scenario/compile.ts';
import { AttemptAbort, runAttempt, type AttemptResult, type Deadline } from './attempt.ts';
import { AttemptRequest, resolveSecrets, templateSecrets, type AttemptGuard, type DeferredSettle, type GuardLease, type GuardOutcome } from './guard.ts';
import { observeAttempt, observeWait, usageTotals, type WorkerObserver } from './observer.ts';
import type { CachedRun, RunCache } from './run-cache.ts';
import type { Inflight } from './inflight.ts';
import { captureAttemptLog } from './attempt-log.ts';
import { defineLazyAccessors } from './context-accessors.ts';
import { storeArtifact } from './artifacts.ts';
import { isolate } from './isolation.ts';
import { handoverOf, type FinishDone, type FusedCompletion, type HandoverAdmission, type ReadyAdds } from './fused-completion.ts';
import { recordStepAdd } from './step-job-add.ts';

/** Thrown into an attempt's signal when the worker shuts down: the attempt is given back. */
export const SHUTDOWN_REASON = new ScenarioError('cancelled', 'worker shutting down', { retryable: true, details: { shutdown: true } });

export interface StepProcessorDeps {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly store: RunStore;
  readonly queue: Queue;
  readonly runs: RunCache;
  readonly registry: HandlerRegistry;
  readonly inflight: Inflight;
  readonly guard: AttemptGuard;
  readonly observer?: WorkerObserver;
  /** Loaded by the child process of `isolation: process` steps. */
  readonly handlersModule?: string;
  /** SQ_ARTIFACT_DIR: where artifacts too large for Redis go. */
  readonly artifactDir?: string;
  readonly log: Logger;
  readonly workerId: string;
  /** Called with every committed transition (local events, metrics). */
  readonly onTransition: (runId: string, result: TransitionResult) => void;
  /** Finishes and claims with BullMQ's completion of a job (src/worker/fused-completion.ts). */
  readonly fused?: FusedCompletion;
  /** Counts work that outlives its processor (fused finishes); the worker waits for it on close. */
  readonly background?: BackgroundWork;
}

/** A count of work in flight outside any processor: `begin` when it starts, `end` once when it is over. */
export interface BackgroundWork {
  begin(): void;
  end(): void;
}

/** Applies what a transition asks for: enqueue newly ready steps and retries. */
export async function applyTransition(deps: StepProcessorDeps, runId: string, result: TransitionResult): Promise<void> {
  await applyTransitionNow(deps, runId, result);
}

/** applyTransition, synchronous when there is nothing to enqueue (a promise only when there is). */
function applyTransitionNow(deps: StepProcessorDeps, runId: string, result: TransitionResult): Promise<void> | undefined {
  if (result.code === 0) return undefined;
  if (result.toEnqueue.length > 0) {
    const run = deps.runs.peek(runId);
    return enqueueSteps(deps.queue, runId, result.toEnqueue, run && stepHints(run.def)).then(() => deps.onTransition(runId, result));
  }
  deps.onTransition(runId, result);
  return undefined;
}

/** Records what a deferred finish answered; never throws (it runs inside BullMQ's completion). */
function finishDone(deps: StepProcessorDeps, runId: string, attemptLog: AttemptLog): FinishDone {
  const background = deps.background;
  background?.begin();
  return (error, raw) => {
    let applying: Promise<void> | undefined;
    try {
      if (error) throw error;
      applying = applyTransitionNow(deps, runId, parseResult(raw));
    } catch (err) {
      unrecorded(attemptLog, err);
    }
    if (!applying) return background?.end();
    applying.catch((err: unknown) => unrecorded(attemptLog, err)).finally(() => background?.end());
  };
}

function unrecorded(attemptLog: AttemptLog, err: unknown): void {
  attemptLog.get().warn({ err }, 'could not record the finish of a succeeded attempt; the reaper resolves the step');
}

/** Ends the run (or group) whose deadline passed; idempotent across workers. */
export async function enforceDeadline(deps: StepProcessorDeps, run: CachedRun, group?: string): Promise<void> {
  const result = group
    ? await deps.store.timeoutGroup(run.runId, group, `group "${group}" timed out after ${run.def.groups[group]?.timeoutMs}ms (groups.${group}.timeoutMs)`)
    : await deps.store.endRun(run.runId, 'timed_out', `run timed out after ${run.def.timeoutMs}ms (run timeoutMs)`);
  await applyTransition(deps, run.runId, result);
}

/** True when every step an expression reads has an output to read. */
function readsAreAvailable(step: CompiledStep, raw: Record<string, { status: string; output?: unknown }>): boolean {
  return step.referencedSteps.every((id) => raw[id] && 'output' in raw[id]);
}

/**
 * An attempt's logger (bindings runId, stepId, attempt), made on first use: most attempts log
 * nothing, and a pino child costs ~0.6 KB and a few µs. A class rather than a closure because
 * tsx (esbuild keepNames) gives every named closure a `defineProperty` call, per attempt here.
 */
class AttemptLog {
  private logger: Logger | undefined;
  constructor(
    private readonly parent: Logger,
    private readonly data: StepJobData,
  ) {}
  get(): Logger {
    return (this.logger ??= this.parent.child({ runId: this.data.runId, stepId: this.data.stepId, attempt: this.data.attempt }));
  }
}

/** A compiled step's static entry in the dag hash (store.ts staticOf), made once per step. */
const staticEntries = new WeakMap<CompiledStep, string>();
function staticEntryOf(step: CompiledStep): string {
  let entry = staticEntries.get(step);
  if (entry === undefined) staticEntries.set(step, (entry = staticOf(step.def, step.dependents)));
  return entry;
}

/**
 * Most dependents a finish adds in the completion's script: past that (a wide fan-out) the
 * adds would make one long script and a large command; the worker queues them after it, in a
 * pipeline of their own.
 */
const MAX_READY_ADDS = 16;
let warnedOtherAdd = false;

/** The dependents of a compiled step that need it alone: fixed by the scenario, so found once per step. */
const aloneDependents = new WeakMap<CompiledStep, readonly string[]>();
function dependentsNeedingItAlone(run: CachedRun, step: CompiledStep): readonly string[] {
  let alone = aloneDependents.get(step);
  if (alone === undefined) aloneDependents.set(step, (alone = step.dependents.filter((id) => run.step(id).def.needs.length === 1)));
  return alone;
}

/**
 * The jobs of `step`'s dependents that need it alone, for the completion that finishes it to
 * add (src/worker/fused-completion.ts): its success makes each ready (first attempt, no delay)
 * unless the run ends or parks it, and BullMQ's part then hands this slot the first of them.
 * What the completion does not add, the worker queues after it (finishDone), as it does the
 * steps a finish releases from the maxParallel wait list: a dependent that needs other steps
 * too (a fan-in: one finish of several makes it ready, so an add recorded at each would be
 * wasted at all but the last), and every dependent of a wide fan-out (undefined here: past
 * MAX_READY_ADDS the adds would make one long script and a large command).
 */
function readyAddsOf(deps: StepProcessorDeps, run: CachedRun, step: CompiledStep): ReadyAdds | undefined {
  const adding = deps.fused?.adding;
  const alone = dependentsNeedingItAlone(run, step);
  if (!adding || alone.length > MAX_READY_ADDS) return undefined;
  const hint = stepHints(run.def);
  const adds: unknown[] = [];
  for (const id of alone) {
    const add = recordStepAdd(deps.queue, run.runId, id, 1, hint(id));
    if (!add) return undefined;
    if (add.command !== adding.command || add.keys.some((key, i) => key !== adding.keys[i])) {
      // Never expected (the step queue is the worker's): said once, then the slower path.
      if (!warnedOtherAdd) deps.log.warn({ command: add.command, expected: adding.command }, "a step's add differs from the completion's: dependents are queued in round trips of their own");
      warnedOtherAdd = true;
      return undefined;
    }
    adds.push(id, add.args[0], add.args[1], add.args[2]);
  }
  return adds;
}

/** What a step that declares no credentials holds, for the guard (shared, so frozen; handlers get their own). */
const NO_SECRETS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** A promise or any thenable (a custom guard may answer with one): awaited; anything else is the value. */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The end of an attempt nobody observes. */
const UNOBSERVED = () => {};

/** A claim made before the processor ran (src/worker/fused-completion.ts), and what holds it. */
interface Preclaim {
  readonly claim: TransitionResult;
  /** Registered in `inflight` since the claim: the attempt's abort. */
  readonly abort?: AttemptAbort;
  /** The claim was used or given back: nothing to undo on failure. */
  settled: boolean;
}

/** Processes one step job: condition, claim, attempt, record, advance. */
export function createStepProcessor(deps: StepProcessorDeps) {
  const { store, log } = deps;

  async function decideCondition(run: CachedRun, step: CompiledStep, data: StepJobData, prepared: PreparedContext, raw: Record<string, { status: string; output?: unknown }>): Promise<boolean> {
    if (!step.if || data.attempt !== 1) return true;
    let value: boolean;
    let error: string | undefined;
    try {
      value = step.if.test(prepared);
    } catch (e) {
      // An `if` that reads the output of a step that produced none (skipped, failed) is false;
      // one that fails on outputs that exist is a real error in the expression: the step fails
      // (invalid_input, naming it). Throwing here would leave the step queued until the run deadline.
      if (readsAreAvailable(step, raw)) {
        await failWithoutRunning(run, data, toFailure(e));
        return false;
      }
      value = false;
      error = toFailure(e).message;
    }
    if (value) return true;
    const result = await store.skipStep(run.runId, step.def.id, data.attempt, 'condition_false', { if: step.def.if, ...(error ? { error } : {}) });
    await applyTransition(deps, run.runId, result);
    return false;
  }

  function deadlinesOf(run: CachedRun, step: CompiledStep, startedAt: number, groupDeadline: number): Deadline[] {
    const list: Deadline[] = [
      { level: 'attempt', at: startedAt + step.def.timeoutMs, limitMs: step.def.timeoutMs },
      { level: 'run', at: run.deadline, limitMs: run.def.timeoutMs },
    ];
    if (step.def.group && groupDeadline > 0) {
      list.push({ level: 'group', at: groupDeadline, limitMs: run.def.groups[step.def.group].timeoutMs, subject: step.def.group });
    }
    return list;
  }

  function handlerContext(run: CachedRun, step: CompiledStep, data: StepJobData, job: Job, prepared: PreparedContext, attemptLog: AttemptLog, lease: GuardLease, secrets: Record<string, string>) {
    let evaluated: Map<string, ReturnType<typeof compileExpression>> | undefined;
    // Built on first read of ctx.log: a capturing logger is a pino instance, and most handlers never log.
    const makeLog = () => captureAttemptLog(attemptLog.get(), { redis: deps.redis, key: deps.keys.runLogs(run.runId), stepId: step.def.id, attempt: data.attempt, keepUntil: run.keepUntil, redact: lease.redact });
    // `signal` and `log` are lazy accessors shared by every attempt (src/worker/context-accessors.ts says why not getters here).
    return (abort: AttemptAbort, usage: Usage[]): HandlerContext => defineLazyAccessors<Omit<HandlerContext, 'signal' | 'log'>>({
      runId: run.runId,
      stepId: step.def.id,
      attempt: data.attempt,
      mock: lease.mock,
      mockOutput: lease.mockOutput ?? step.def.mock,
      // Its own object: a handler may write to it, and the empty one the guard saw is shared.
      secrets: secrets === NO_SECRETS ? {} : secrets,
      service: step.def.service,
      evaluate(expression) {
        evaluated ??= new Map();
        let compiled = evaluated.get(expression);
        if (!compiled) {
          compiled = compileExpression(expression);
          evaluated.set(expression, compiled);
        }
        return compiled.evaluate(prepared);
      },
      reportUsage(u) {
        usage.push(u);
      },
      async checkpoint(value) {
        const key = deps.keys.runCheckpoints(run.runId);
        await deps.redis.multi().hset(key, `${step.def.id}|${data.attempt}`, lease.redact(JSON.stringify({ ts: Date.now(), data: value }))).pexpireat(key, run.keepUntil).exec();
      },
      async artifact(name, body, contentType = 'application/octet-stream') {
        const target = { redis: deps.redis, key: deps.keys.runArtifacts(run.runId), runId: run.runId, stepId: step.def.id, attempt: data.attempt, dir: deps.artifactDir, keepUntil: run.keepUntil };
        await storeArtifact(target, name, body, contentType);
      },
      async progress(fraction) {
        await job.updateProgress(Math.max(0, Math.min(1, fraction)));
      },
    }, abort, makeLog);
  }

  function outcomeOf(failure: Failure, retry: boolean): AttemptOutcome {
    if (retry) return 'retry';
    return failure.kind === 'timeout' ? 'timed_out' : 'failed';
  }

  async function failWithoutRunning(run: CachedRun, data: StepJobData, failure: Failure): Promise<void> {
    const claim = await store.startAttempt(run.runId, data.stepId, data.attempt);
    if (claim.code !== 1) return;
    deps.onTransition(run.runId, claim);
    const now = Date.now();
    const record: AttemptRecord = { attempt: data.attempt, workerId: deps.workerId, startedAt: now, finishedAt: now, status: 'failed', kind: failure.kind, message: failure.message };
    await applyTransition(deps, run.runId, await store.finishAttempt(run.runId, data.stepId, 'failed', record));
  }

  /** Back to the queue without consuming an attempt: the step stays queued. */
  async function waitInQueue(job: Job<StepJobData>, token: string | undefined, run: CachedRun, step: CompiledStep, wait: { delayMs: number; reason: string }, attemptLog: AttemptLog): Promise<never> {
    attemptLog.get().debug({ delayMs: wait.delayMs, reason: wait.reason }, 'attempt waits');
    observeWait(deps.observer, { scenario: run.def.name, handler: step.def.uses, service: step.def.service }, wait.reason, attemptLog.get());
    await job.moveToDelayed(Date.now() + wait.delayMs, token);
    throw new DelayedError();
  }

  /**
   * A step claimed as BullMQ handed its job over listens for aborts from that moment: a cancel,
   * failFast or halt published before its handler starts must still reach it. A failure before
   * the attempt starts gives the claim back, uncounted.
   */
  async function processPreclaimed(job: Job<StepJobData>, token: string | undefined, preclaimed: TransitionResult, admitted?: HandoverAdmission): Promise<void> {
    const { runId, stepId, attempt } = job.data;
    const abort = new AttemptAbort();
    deps.inflight.add(runId, stepId, abort);
    const held: Preclaim = { claim: preclaimed, abort, settled: false };
    try {
      await runStep(job, token, held, admitted);
    } catch (e) {
      if (!held.settled && !(e instanceof DelayedError)) await store.releaseAttempt(runId, stepId, attempt, 'error').catch(() => undefined);
      throw e;
    } finally {
      deps.inflight.remove(abort);
    }
  }

  // Not async (it only hands over a promise): BullMQ awaits the processor inside its own try.
  return function processStep(job: Job<StepJobData>, token?: string): Promise<void> {
    // Claimed already when BullMQ handed the job over (a plain step, src/worker/fused-completion.ts).
    const claimedRaw = job.id ? deps.fused?.takeClaim(job.id) : undefined;
    if (!claimedRaw) return runStep(job, token);
    // A guarded step admitted (and, if so, claimed) as its job was handed over.
    const admitted = handoverOf(claimedRaw);
    if (admitted && !admitted.claim) return runStep(job, token, undefined, admitted);
    const preclaimed = parseResult(admitted ? admitted.claim : claimedRaw);
    if (preclaimed.code !== 1) return runStep(job, token, { claim: preclaimed, settled: true }, admitted);
    return processPreclaimed(job, token, preclaimed, admitted);
  };

  /**
   * Most of a step's path is synchronous on a warm worker (its run cached, nothing to read or
   * admit first, a handler that answers at once): awaited only where something is pending, as
   * every await of a plain value costs a microtask and its allocations, per step.
   */
  async function runStep(job: Job<StepJobData>, token: string | undefined, held?: Preclaim, admitted?: HandoverAdmission): Promise<void> {
    const data = job.data;
    let preclaimed = held?.claim;
    const run = deps.runs.peek(data.runId) ?? (await deps.runs.get(data.runId));
    if (!run) return;
    const step = run.step(data.stepId);
    const attemptLog = new AttemptLog(log, data);

    const raw = step.referencedSteps.length > 0 ? await loadStepContexts(deps.redis, deps.keys, run.runId, step.referencedSteps) : {};
    const scope = { input: run.input, steps: raw as never, run: { id: run.runId, attempt: data.attempt } };
    const prepared = prepareContext(scope);
    if (step.if && !(await decideCondition(run, step, data, prepared, raw))) return;

    const secrets = step.def.credentials.length > 0 ? resolveSecrets(step.def.credentials) : NO_SECRETS;
    let input: unknown;
    try {
      input = step.render(step.def.credentials.length > 0 ? prepareContext({ ...scope, secrets: templateSecrets(step.def.credentials, secrets) }) : prepared);
    } catch (e) {
      input = e instanceof Error ? e : new Error(String(e));
    }

    const deciding = deps.guard.before(new AttemptRequest(run, step, data, job, input, secrets, preclaimed ? undefined : () => store.startInvocation(run.runId, data.stepId, data.attempt), admitted));
    const gate = isThenable(deciding) ? await deciding : deciding;
    if (preclaimed && gate.kind !== 'proceed') {
      // Not expected for a plain step; the attempt is given back uncounted and decided as usual.
      if (preclaimed.code === 1) {
        // A group the claim opened keeps its deadline: its job must exist, as after any claim.
        const [, groupDeadline, newGroup] = preclaimed.extra.split('|');
        if (newGroup) await scheduleDeadline(deps.queue, { runId: run.runId, group: newGroup }, Number(groupDeadline) - Date.now());
        await store.releaseAttempt(run.runId, data.stepId, data.attempt, 'guard');
      }
      preclaimed = undefined;
      if (held) held.settled = true;
    }
    if (gate.kind === 'wait') return waitInQueue(job, token, run, step, gate, attemptLog);
    if (gate.kind === 'skip') {
      await applyTransition(deps, run.runId, await store.skipStep(run.runId, data.stepId, data.attempt, gate.reason, gate.data));
      return;
    }
    if (gate.kind === 'fail') return failWithoutRunning(run, data, gate.failure);
    const lease = gate.lease;

    // Claimed already: as BullMQ handed the job over (a plain step), or with the guard's admission.
    if (!preclaimed && gate.claimed) preclaimed = parseResult(gate.claimed);
    let claim: TransitionResult;
    try {
      claim = preclaimed ?? (await store.startAttempt(run.runId, data.stepId, data.attempt, gate.onHalted ? { haltScenario: run.def.name } : {}));
    } catch (e) {
      // The lease's permits and reservations must lapse, not be renewed for ever.
      await lease.after({ ok: false, usage: [], durationMs: 0 });
      throw e;
    }
    if (held) held.settled = true;
    if (claim.code !== 1) {
      await lease.after({ ok: false, usage: [], durationMs: 0 });
      if (claim.code === 2) return enforceDeadline(deps, run);
      if (claim.code === 3) return enforceDeadline(deps, run, claim.extra);
      if (claim.code === 4 && gate.onHalted) {
        // Halted: the guard ends the run if nothing of it runs, else the job waits.
        const halted = await gate.onHalted(claim.extra);
        if (halted.kind === 'wait') return waitInQueue(job, token, run, step, halted, attemptLog);
      }
      attemptLog.get().debug({ why: claim.extra }, 'job discarded');
      return;
    }
    deps.onTransition(run.runId, claim);
    // "<runDeadline>|<groupDeadline>|<newGroup>", cut without a split's array (per step).
    const bar = claim.extra.indexOf('|', claim.extra.indexOf('|') + 1);
    const groupDeadline = claim.extra.slice(claim.extra.indexOf('|') + 1, bar);
    const newGroup = claim.extra.slice(bar + 1);
    if (newGroup) {
      try {
        await scheduleDeadline(deps.queue, { runId: run.runId, group: newGroup }, Number(groupDeadline) - Date.now());
      } catch (e) {
        await lease.after({ ok: false, usage: [], durationMs: 0 });
        throw e;
      }
    }

    const startedAt = Date.now();
    const observed = deps.observer ? observeAttempt(deps.observer, { scenario: run.def.name, handler: step.def.uses, service: step.def.service, gatedMock: lease.mock && !run.mock }, () => attemptLog.get()) : UNOBSERVED;
    // A step claimed on hand-over has been registered for aborts since then (processPreclaimed).
    const abort = held?.abort ?? new AttemptAbort();
    if (!held?.abort) deps.inflight.add(run.runId, data.stepId, abort);
    let result: AttemptResult;
    try {
      if (input instanceof Error) {
        result = { ok: false, failure: toFailure(input), usage: [] };
      } else {
        const attempt = runAttempt({
          handler: step.def.isolation === 'process' ? isolate(deps.registry.get(step.def.uses), step.def, { handlersModule: deps.handlersModule, scope }) : deps.registry.get(step.def.uses),
          input,
          // Bound, not a closure: tsx (esbuild keepNames) names every closure with a defineProperty call.
          deadlines: deadlinesOf.bind(undefined, run, step, startedAt, Number(groupDeadline)),
          abort,
          context: handlerContext(run, step, data, job, prepared, attemptLog, lease, secrets),
        });
        result = attempt instanceof Promise ? await attempt : attempt;
      }
    } catch (e) {
      result = { ok: false, failure: toFailure(e), usage: [] };
    } finally {
      deps.inflight.remove(abort);
    }
    let committed: CostTotals | void = undefined;
    // A succeeded step whose finish rides on BullMQ's completion of its job (below): the
    // guard's settle goes in the same script, before the finish, and the jobs of the
    // dependents it makes ready after it.
    // (Without BullMQ's verified add the completion adds nothing, and a step with dependents
    // finishes alone and queues them first, so that BullMQ's completion hands a chain's next
    // step to the same slot.)
    const withFinish = result.ok && deps.fused !== undefined && (step.dependents.length === 0 || deps.fused.adding !== undefined) && job.id !== undefined;
    const adds = withFinish && step.dependents.length > 0 ? readyAddsOf(deps, run, step) : undefined;
    let settle: DeferredSettle | undefined;
    try {
      const outcome: GuardOutcome = { ok: result.ok, failure: result.ok ? undefined : result.failure, usage: result.usage, durationMs: Date.now() - startedAt, output: result.ok ? result.output : undefined };
      const ending = withFinish && lease.settleWithFinish ? lease.settleWithFinish(outcome) : undefined;
      if (ending) {
        committed = ending.actual;
        settle = ending.settle;
      } else {
        const settling = lease.after(outcome);
        committed = isThenable(settling) ? await settling : settling;
      }
    } finally {
      if (observed !== UNOBSERVED) observed({ ok: result.ok, kind: result.ok ? undefined : result.failure.kind, durationMs: Date.now() - startedAt, cost: committed ?? usageTotals(result.usage) });
    }

    const record: AttemptRecord = { attempt: data.attempt, workerId: deps.workerId, startedAt, finishedAt: Date.now() };
    if (result.ok) {
      record.status = 'succeeded';
      if (withFinish) {
        // Its finish rides on BullMQ's completion of the job (one round trip), with the adds of
        // the dependents that need it alone; the worker queues the others it makes ready after.
        let finish: ScriptInvocation;
        try {
          finish = store.finishInvocation(run.runId, data.stepId, 'succeeded', record, { output: lease.redact(result.output), staticEntry: staticEntryOf(step), uncounted: run.uncounted });
        } catch (e) {
          // The settle handed over must still go: usage committed, holds released.
          if (settle) void settle.alone();
          throw e;
        }
        (deps.fused as FusedCompletion).defer(job.id as string, finish, finishDone(deps, run.runId, attemptLog), settle, adds);
        return;
      }
      const output = lease.redact(result.output);
      await applyTransition(deps, run.runId, await store.finishAttempt(run.runId, data.stepId, 'succeeded', record, { output, staticEntry: staticEntryOf(step), uncounted: run.uncounted }));
      return;
    }

    const abortedBy = 'abortedBy' in result ? result.abortedBy : undefined;
    if (abortedBy === SHUTDOWN_REASON) {
      // Given back without counting: another worker takes the same job id again.
      await store.releaseAttempt(run.runId, data.stepId, data.attempt, 'shutdown');
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    if (isScenarioError(abortedBy) && abortedBy.kind === 'timeout' && abortedBy.details?.level !== 'attempt') {
      return enforceDeadline(deps, run, abortedBy.details?.level === 'group' ? step.def.group : undefined);
    }

    const failure = result.failure;
    const decision = nextRetry(failure, data.attempt, step.def.retry);
    const cancelled = isScenarioError(abortedBy) && (abortedBy.kind === 'cancelled' || abortedBy.kind === 'halted');
    const outcome = cancelled ? 'cancelled' : outcomeOf(failure, decision.retry);
    Object.assign(record, {
      status: outcome,
      kind: failure.kind,
      message: lease.redact(failure.message),
      stack: failure.stack && lease.redact(failure.stack),
    });
    if (decision.retry) record.retryDelayMs = decision.delayMs;
    attemptLog.get().info({ kind: failure.kind, outcome, retryDelayMs: record.retryDelayMs }, 'attempt failed');
    const transition = await store.finishAttempt(run.runId, data.stepId, outcome, record, { retryDelayMs: record.retryDelayMs, staticEntry: staticEntryOf(step) });
    await applyTransition(deps, run.runId, transition);
  }
}
