/**
 * The worker's AttemptGuard (src/worker/guard.ts): before every attempt the credential gate,
 * mock mode and one admission script (kill switch, breaker, permits, rate window, budgets);
 * while it runs a lease renewal; after it the settle script (usage, breaker, release) and,
 * with `--record`, the recording. Redaction of secrets for everything the attempt produces.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { isTransientKind, type Failure } from '../errors.ts';
import type { CostTotals, ScenarioEvent } from '../engine/types.ts';
import type { RunStore } from '../engine/store.ts';
import type { HandlerRegistry } from '../handlers/registry.ts';
import { liveWorkers, type WorkerInfo } from '../worker/heartbeat.ts';
import { resolveSecrets, type AttemptGuard, type DeferredSettle, type GuardDecision, type GuardLease, type GuardOutcome, type GuardRequest } from '../worker/guard.ts';
import { createLeaseRenewer, type LeaseRenewer } from './lease-renewer.ts';
import type { CachedRun, RunFacts } from '../worker/run-cache.ts';
import { guardFunctions } from './guard-functions.ts';
import { admissionOf, admitAttempt, renewLease, reservationMember, settleAnswer, settleArgs, settleAttempt, type Admission, type AttemptIdentity, type BreakerOutcome, type SettleRequest } from './admission.ts';
import { actualOf, estimateOf, NO_RESERVATION, type Reservation } from './cost.ts';
import type { ModelPricing } from './services-schema.ts';
import { missingHere, missingMessage, missingOnWorkers } from './credentials.ts';
import { haltRun, type HaltInfo } from './halt.ts';
import { findRecording, requestHash, RECORDED_HANDLERS, saveRecording } from './recordings.ts';
import { redactSecrets, registerSecrets } from './redact.ts';
import type { ServicesCache } from './services-store.ts';

export interface GuardrailsOptions {
  readonly redis: RedisConnection;
  readonly keys: Keys;
  readonly store: RunStore;
  readonly registry: HandlerRegistry;
  readonly services: ServicesCache;
  readonly workerId: string;
  /** Permits and reservations lapse this long after their last renewal (the job lock duration). */
  readonly leaseMs: number;
  readonly log: Logger;
  /** Every guardrail event this worker wrote (in-process listeners). */
  readonly onEvent?: (event: ScenarioEvent) => void;
}

/**
 * How the attempt ends: what to send, or undefined when `withFinish` and it has a recording to
 * save (that goes alone). Module-level rather than a closure per attempt (tsx names each one).
 */
function endingOf(attempt: AttemptFacts, outcome: GuardOutcome, withFinish: boolean): Ending | undefined {
  attempt.renewer?.release(attempt);
  const { request, holds } = attempt;
  const actual = actualOf(attempt.mock ? [] : outcome.usage, attempt.pricing, request.input);
  if (attempt.ended) return { actual };
  const record = attempt.runInfo.record && attempt.live && outcome.ok && outcome.output !== undefined && RECORDED_HANDLERS.has(request.step.def.uses);
  if (record && withFinish) return undefined;
  attempt.ended = true;
  const used = actual.calls > 0 || actual.usd > 0 || actual.tokens.input > 0 || actual.tokens.output > 0;
  // Nothing held, nothing spent, nothing to record (a plain step): nothing to send.
  if (!holds && !used && !record) return { actual };
  const settle = holds || used ? { leaseId: leaseIdOf(attempt), member: attempt.member || reservationMember(leaseIdOf(attempt), attempt.estimate), outcome: breakerOutcome(outcome), probe: attempt.probe === true, actual, held: attempt.held } : undefined;
  return { actual, settle, record: record ? outcome.output : undefined };
}

/** `decision` with the claim the admission made with it, if any. */
function withClaim(decision: GuardDecision & { kind: 'proceed' }, claimed: unknown): GuardDecision {
  if (claimed) decision.claimed = claimed;
  return decision;
}

/** The guard's functions a lease and a FusedSettle call back. */
interface Settling {
  emit(events: readonly ScenarioEvent[]): void;
  settleAndRecord(who: AttemptIdentity, settle: SettleRequest | undefined, output: string | undefined, attempt: AttemptFacts): Promise<void>;
}

/** A settle handed to the fused completion; a class, not closures made per attempt. */
class FusedSettle implements DeferredSettle {
  readonly scope: readonly [string, string, string, string];
  readonly args: readonly (string | number)[];
  constructor(
    private readonly who: AttemptIdentity,
    private readonly request: SettleRequest,
    private readonly settling: Settling,
    private readonly attempt: AttemptFacts,
  ) {
    this.scope = [who.runId, who.service ?? '', who.suite ?? '', who.day];
    this.args = settleArgs(who, request);
  }
  done(raw: unknown): void {
    this.settling.emit(settleAnswer(raw).events);
  }
  alone(): Promise<void> {
    return this.settling.settleAndRecord(this.who, this.request, undefined, this.attempt);
  }
}

/** A granted attempt's lease (GuardLease); a class, so that its methods are not made per attempt. */
class AttemptLease implements GuardLease {
  readonly mock: boolean;
  constructor(
    private readonly attempt: AttemptFacts,
    readonly mockOutput: { output: unknown } | undefined,
    private readonly settling: Settling,
  ) {
    this.mock = attempt.mock;
  }
  redact(text: string): string {
    return redactSecrets(text);
  }
  after(outcome: GuardOutcome): CostTotals | Promise<CostTotals> {
    const end = endingOf(this.attempt, outcome, false) as Ending;
    if (!end.settle && end.record === undefined) return end.actual;
    return this.settling.settleAndRecord(this.attempt.who ?? identity(this.attempt), end.settle, end.record, this.attempt).then(() => end.actual);
  }
  settleWithFinish(outcome: GuardOutcome): { actual?: CostTotals; settle?: DeferredSettle } | undefined {
    const end = endingOf(this.attempt, outcome, true);
    if (!end) return undefined;
    if (!end.settle) return { actual: end.actual };
    const who = this.attempt.who ?? identity(this.attempt);
    return { actual: end.actual, settle: new FusedSettle(who, end.settle, this.settling, this.attempt) };
  }
}

/** How an attempt ends for the guard: its usage as committed, and what to send (src/guardrails/admission.ts). */
interface Ending {
  readonly actual: CostTotals;
  readonly settle?: SettleRequest;
  /** The output to save as a recording (`--record`). */
  readonly record?: string;
}

/** What admission answers for an attempt that holds nothing, once the kill switch is left to the claim. */
const NOTHING_TO_ADMIT = { kind: 'admitted', probe: false } as const;
const jitter = (ms: number, spread: number) => Math.round(ms + Math.random() * spread);

/**
 * Lease ids are unique across workers and attempts by a random prefix per process and a
 * counter: `crypto.randomBytes` on every attempt cost 2–3 % of a worker's CPU on no-op steps.
 */
const LEASE_NONCE = randomBytes(8).toString('hex');
let leaseSeq = 0;

/** The UTC day (YYYY-MM-DD) of `now`, formatted once per day rather than once per attempt. */
let today = { from: 0, to: 0, day: '' };
function utcDay(now: number): string {
  if (now < today.from || now >= today.to) {
    const from = now - (now % 86_400_000);
    today = { from, to: from + 86_400_000, day: new Date(from).toISOString().slice(0, 10) };
  }
  return today.day;
}

/** What the guard decided about one attempt before asking Redis anything. */
interface AttemptFacts {
  readonly request: GuardRequest;
  readonly runInfo: RunFacts;
  readonly mock: boolean;
  readonly live: boolean;
  readonly pricing: Readonly<Record<string, ModelPricing>>;
  /** It takes permits or reserves budget: admission and settle scripts, lease renewal. */
  readonly holds: boolean;
  readonly estimate: Reservation;
  readonly now: number;
  readonly workerId: string;
  leaseId?: string;
  /** The daily budget's day, when the admission chose it (on hand-over); else the day of `now`. */
  readonly day?: string;
  /** Set once proceeding: the admission's probe flag, the reservation's member; for a lease held, who and its renewer. */
  probe?: boolean;
  /** What the admission held besides the service's permit (Admission's `held`), for the settle. */
  held?: string;
  member?: string;
  who?: AttemptIdentity;
  renewer?: LeaseRenewer<AttemptFacts>;
  /** Ended: a second `after` sends nothing. */
  ended?: boolean;
}

function leaseIdOf(attempt: AttemptFacts): string {
  const { run, step, data } = attempt.request;
  return (attempt.leaseId ??= `${run.runId}|${step.def.id}|${data.attempt}|${LEASE_NONCE}.${++leaseSeq}`);
}

function identity(attempt: AttemptFacts): AttemptIdentity {
  const { run, step, data } = attempt.request;
  return { runId: run.runId, stepId: step.def.id, attempt: data.attempt, workerId: attempt.workerId, scenario: run.def.name, service: step.def.service, suite: attempt.runInfo.suite, day: attempt.day ?? utcDay(attempt.now) };
}

/** How the breaker counts an outcome: aborts and input errors say nothing about the service. */
export function breakerOutcome(outcome: GuardOutcome): BreakerOutcome {
  if (outcome.ok) return 'ok';
  const f: Failure | undefined = outcome.failure;
  if (!f) return 'none';
  if (['cancelled', 'halted', 'invalid_input', 'budget_exceeded', 'credentials_missing', 'circuit_open'].includes(f.kind)) return 'none';
  if (f.kind === 'timeout' && f.details?.level !== undefined && f.details.level !== 'attempt') return 'none';
  return isTransientKind(f.kind) ? 'transient' : 'other';
}

/** A lease that holds nothing: mocked or service-less steps, and jobs of runs that are over. */
function freeLease(mock: boolean, mockOutput?: { output: unknown }): GuardLease {
  return { mock, mockOutput, redact: redactSecrets, after: () => undefined };
}

/** Builds the guard every worker uses by default. */
export function createGuardrails(options: GuardrailsOptions): AttemptGuard {
  const { redis, keys, log } = options;
  // The admission and settle scripts as a Function library where Redis allows it.
  const functions = guardFunctions(redis, keys, log);
  const credentialNames = new WeakMap<CachedRun['def'], string[]>();
  let workersCache: { at: number; list: Promise<WorkerInfo[]> } | undefined;

  const emit = (events: readonly ScenarioEvent[]) => {
    for (const e of events) options.onEvent?.(e);
  };

  function otherWorkers(): Promise<WorkerInfo[]> {
    const now = Date.now();
    if (!workersCache || now - workersCache.at > 2_000) {
      workersCache = { at: now, list: liveWorkers(redis, keys).then((all) => all.filter((w) => w.workerId !== options.workerId)) };
    }
    return workersCache.list;
  }

  /** Every secret the scenario declares that this worker holds: redacted wherever it shows up. */
  function registerRunSecrets(run: CachedRun): void {
    // Per scenario, not per attempt: runs of one scenario share its definition object, and
    // collecting over every step costs 36 µs per attempt for a 1000-step scenario.
    let names = credentialNames.get(run.def);
    if (!names) credentialNames.set(run.def, (names = [...new Set(run.def.steps.flatMap((s) => s.credentials))]));
    if (names.length > 0) registerSecrets(resolveSecrets(names));
  }

  /** The worker side of the credential gate; undefined when the attempt may go on. */
  async function credentialGate(request: GuardRequest): Promise<GuardDecision | 'mock' | undefined> {
    const { run, step } = request;
    const missing = missingHere(step.def, request.secrets);
    if (missing.length === 0) return undefined;
    // Another live worker holds them: give the job back so it can take it.
    if (missingOnWorkers(step.def.credentials, await otherWorkers()).length === 0) {
      return { kind: 'wait', delayMs: jitter(300, 300), reason: 'credentials_elsewhere' };
    }
    const policy = step.def.onMissingCredentials;
    const message = missingMessage(missing, policy);
    if (policy === 'mock') return 'mock';
    if (policy === 'fail') return { kind: 'fail', failure: { kind: 'credentials_missing', message, retryable: false, details: { missing } } };
    const runMissing = run.def.credentials.filter((name) => missing.includes(name));
    if (runMissing.length > 0 && run.def.onMissingCredentials === 'skip') {
      await options.store.script('gateRun', run.runId, ['run', missingMessage(runMissing, 'skip'), '[]']);
    }
    return { kind: 'skip', reason: 'credentials_missing', data: { missing, message } };
  }

  async function onHalted(request: GuardRequest, reason: string): Promise<GuardDecision> {
    const result = await haltRun(options.store, request.run.runId, { message: `halted: ${reason}`, mode: 'idle', heldStep: request.data.stepId });
    // Ended now, or over already: the claim that follows discards the job.
    if (result.code === 1 || (result.code === 0 && result.extra === 'run_over')) return { kind: 'proceed', lease: freeLease(false) };
    return { kind: 'wait', delayMs: jitter(1_000, 500), reason: 'halted' };
  }

  async function mockOutputFor(request: GuardRequest): Promise<{ output: unknown } | undefined> {
    const { step, run } = request;
    if (RECORDED_HANDLERS.has(step.def.uses) && !(request.input instanceof Error)) {
      const recording = await findRecording(redis, keys, run.def.name, step.def.id, requestHash(step.def.uses, request.input));
      if (recording) return recording;
    }
    return step.def.mock;
  }

  /** The answer once the credential gate and the run's facts are known; async only when it must wait on Redis. */
  function decide(request: GuardRequest, gate: 'mock' | undefined): GuardDecision | Promise<GuardDecision> {
    const { run, step } = request;
    const runInfo = run.facts;
    const mock = gate === 'mock' || run.mock || runInfo.mocked.has(step.def.id);
    const live = !mock && !(request.input instanceof Error);
    const service = step.def.service;
    const pricing = (service && options.services.current().services[service]?.pricing) || {};
    // Admitted as its job was handed over (src/worker/fused-completion.ts): the script reserved
    // the static estimate (store.ts handoverAdmissionOf is estimateOf's for such a step) under
    // its lease id and day, and the attempt holds it whatever happens next (an input that failed
    // to render included), so it settles like any other.
    const admitted = request.admitted;
    const estimate = live || admitted ? estimateOf(step.def.cost, options.registry.has(step.def.uses) ? options.registry.get(step.def.uses) : undefined, request.input, pricing) : NO_RESERVATION;
    const holds = admitted !== undefined || (live && (service !== undefined || estimate !== NO_RESERVATION));
    const attempt: AttemptFacts = { request, runInfo, mock, live, pricing, holds, estimate, now: Date.now(), workerId: options.workerId, leaseId: admitted?.leaseId, day: admitted?.day };
    if (admitted) return decided(attempt, admissionOf(admitted.raw));
    // For an attempt that holds nothing the admission script would only read the kill
    // switch; the claim (startAttempt) reads it instead, atomically: one round trip less.
    if (attempt.holds) return admitThenDecide(attempt);
    if (mock) return mockOutputFor(request).then((mockOutput) => proceed(attempt, NOTHING_TO_ADMIT, mockOutput));
    return proceed(attempt, NOTHING_TO_ADMIT, undefined);
  }

  async function admitThenDecide(attempt: AttemptFacts): Promise<GuardDecision> {
    const { request } = attempt;
    const admission = await admitAttempt(redis, keys, identity(attempt), { leaseId: leaseIdOf(attempt), leaseMs: options.leaseMs, live: attempt.live, estimate: attempt.estimate, claim: request.claim?.() }, functions);
    return decided(attempt, admission);
  }

  /** The decision once admission answered (here, or as the job was handed over). */
  /** Synchronous unless it must ask Redis (a halt to apply, a mocked step's recording). */
  function decided(attempt: AttemptFacts, admission: Admission & { claimed?: unknown }): GuardDecision | Promise<GuardDecision> {
    const { request } = attempt;
    emit(admission.events);
    if (admission.kind === 'halted') return onHalted(request, admission.halt.reason);
    if (admission.kind === 'wait') {
      const spread = admission.reason === 'rate_limited' ? 50 : Math.max(50, admission.delayMs / 2);
      return { kind: 'wait', delayMs: jitter(admission.delayMs, spread), reason: admission.reason };
    }
    if (admission.kind === 'fail') return { kind: 'fail', failure: { kind: admission.errorKind, message: admission.message, retryable: false } };
    if (attempt.mock) return mockOutputFor(request).then((mockOutput) => withClaim(proceed(attempt, admission, mockOutput), admission.claimed));
    return withClaim(proceed(attempt, admission, undefined), admission.claimed);
  }

  function proceed(attempt: AttemptFacts, admission: { readonly probe: boolean; readonly held?: string }, mockOutput: { output: unknown } | undefined): GuardDecision & { kind: 'proceed' } {
    const { request, holds } = attempt;
    const who = holds ? identity(attempt) : undefined;
    attempt.member = holds ? reservationMember(leaseIdOf(attempt), attempt.estimate) : '';
    attempt.probe = admission.probe;
    attempt.held = admission.held;
    if (who) {
      attempt.who = who;
      attempt.renewer = renewer;
      renewer.hold(attempt);
    }
    const decision: GuardDecision & { kind: 'proceed' } = { kind: 'proceed', lease: new AttemptLease(attempt, mockOutput, settling) };
    // Set here rather than spread into the literal: that cost ~0.5 µs per attempt.
    if (!holds) decision.onHalted = (halt: string) => onHalted(request, (JSON.parse(halt) as HaltInfo).reason);
    return decision;
  }

  /** What a lease and a settle sent with the fused completion call back (AttemptLease, FusedSettle). */
  const settling: Settling = { emit, settleAndRecord };
  /** Every held lease renewed every third of its time, on one timer. */
  const renewer = createLeaseRenewer<AttemptFacts>(Math.max(250, Math.floor(options.leaseMs / 3)), (attempt) => {
    const who = attempt.who as AttemptIdentity;
    renewLease(redis, keys, who, { leaseId: leaseIdOf(attempt), member: attempt.member ?? '', leaseMs: options.leaseMs }).catch((err: unknown) => log.warn({ err, runId: who.runId }, 'lease renewal failed'));
  });

  async function settleAndRecord(who: AttemptIdentity, settle: SettleRequest | undefined, output: string | undefined, attempt: AttemptFacts): Promise<void> {
    for (let n = 1; settle; n++) {
      try {
        emit((await settleAttempt(redis, keys, who, settle, functions)).events);
        break;
      } catch (err) {
        // Permits and reservations lapse with the lease anyway; the usage would be lost.
        if (n >= 3) {
          log.error({ err, runId: who.runId, stepId: who.stepId }, 'could not commit attempt usage');
          break;
        }
        await new Promise((r) => setTimeout(r, 250 * n));
      }
    }
    if (output === undefined) return;
    const { run, step } = attempt.request;
    await saveRecording(redis, keys, {
      scenario: run.def.name,
      step: step.def.id,
      hash: requestHash(step.def.uses, attempt.request.input),
      handler: step.def.uses,
      recordedAt: Date.now(),
      outputJson: redactSecrets(output),
    }).catch((err: unknown) => log.warn({ err, runId: who.runId }, 'could not save recording'));
  }

  async function gatedBefore(request: GuardRequest): Promise<GuardDecision> {
    const gate = await credentialGate(request);
    if (gate && gate !== 'mock') return gate;
    return decide(request, gate);
  }

  return {
    libraries: () => functions?.libraries() ?? [],
    preload: async () => functions?.preload(),
    before(request) {
      const { run, step } = request;
      registerRunSecrets(run);
      // A mocked run needs no credentials, and a step that declares none has nothing to gate.
      if (!run.mock && step.def.credentials.length > 0) return gatedBefore(request);
      return decide(request, undefined);
    },
  };
}
