import type { ScriptInvocation } from '../engine/store.ts';
import type { Job } from 'bullmq';
import type { Failure } from '../errors.ts';
import type { Usage } from '../handlers/types.ts';
import type { CostTotals } from '../engine/types.ts';
import type { CompiledStep } from '../scenario/compile.ts';
import type { StepJobData } from '../engine/jobs.ts';
import type { CachedRun } from './run-cache.ts';
import type { HandoverAdmission } from './fused-completion.ts';

/** What the guard sees before an attempt. */
export interface GuardRequest {
  readonly run: CachedRun;
  readonly step: CompiledStep;
  readonly data: StepJobData;
  readonly job: Job<StepJobData>;
  /** The rendered handler input (an Error when rendering failed), for cost estimates. */
  readonly input: unknown;
  /** The step's declared credentials present in this worker's environment. */
  readonly secrets: Readonly<Record<string, string>>;
  /** The claim of the attempt, for a guard that can send it with its admission (one round trip). */
  readonly claim?: () => ScriptInvocation;
  /**
   * The built-in guardrails' admission, made as the job was handed over (src/worker/fused-completion.ts):
   * the guard decides from it and asks nothing again. Only for a worker with the built-in guardrails.
   */
  readonly admitted?: HandoverAdmission;
}

/**
 * The request the worker hands its guard. A class, not an object literal: V8 may allocate a
 * literal straight in the old generation once its site looks long-lived (allocation-site
 * pretenuring), and a request there kept its young job, input and claim alive through every
 * scavenge (docs/performance.md, "The worker's young generation"). `new` makes no such site.
 */
export class AttemptRequest implements GuardRequest {
  constructor(
    readonly run: CachedRun,
    readonly step: CompiledStep,
    readonly data: StepJobData,
    readonly job: Job<StepJobData>,
    readonly input: unknown,
    readonly secrets: Readonly<Record<string, string>>,
    readonly claim: (() => ScriptInvocation) | undefined,
    readonly admitted: HandoverAdmission | undefined,
  ) {}
}

/** A granted attempt: call `after` exactly once when it ends. */
export interface GuardLease {
  /** Run the step mocked (credential gate `mock`, `--mock`). */
  readonly mock: boolean;
  /** What a mocked `http`/`llm` step returns: a recording of the same request, else the step's `mock`. */
  readonly mockOutput?: { output: unknown };
  /** Replaces secret values in text before it is stored, logged or reported. */
  redact(text: string): string;
  /**
   * Commits usage, releases permits and reservations, records breaker outcome. Resolves with
   * the usage as committed (USD priced) when the guard prices it; metrics count that.
   * Synchronous when there is nothing to send (an attempt that held and spent nothing).
   */
  after(outcome: GuardOutcome): CostTotals | void | PromiseLike<CostTotals | void>;
  /**
   * `after` for an attempt whose finish rides on BullMQ's completion of its job (the fused
   * completion, src/worker/fused-completion.ts): the settle is handed back to go in the same
   * script as the finish, one round trip less. Undefined when it cannot go there (a recording
   * to save): call `after` then. Either this or `after`, once.
   */
  settleWithFinish?(outcome: GuardOutcome): { readonly actual?: CostTotals; readonly settle?: DeferredSettle } | undefined;
}

/** A settle handed to the fused completion (GuardLease.settleWithFinish). */
export interface DeferredSettle {
  /** The attempt's guard scope, of which the composed script makes the settle's keys: run id, service, suite, day ('' for none). */
  readonly scope: readonly [string, string, string, string];
  /** The settle script's arguments (src/guardrails/admission.ts settleArgs). */
  readonly args: readonly (string | number)[];
  /** Called once with the script's raw answer when it ran with the finish. */
  done(raw: unknown): void;
  /** Sends the settle alone (the finish went without BullMQ's completion, or that call failed); never rejects. */
  alone(): Promise<void>;
}

export interface GuardOutcome {
  readonly ok: boolean;
  readonly failure?: Failure;
  readonly usage: readonly Usage[];
  readonly durationMs: number;
  /** The output JSON of a successful attempt (for `--record`). */
  readonly output?: string;
}

/**
 * The guard's answer. `wait` puts the job back without consuming an attempt (rate limit,
 * concurrency, open breaker with whenOpen: wait, halt); `skip` and `fail` end the step.
 */
export type GuardDecision =
  | {
      kind: 'proceed';
      lease: GuardLease;
      /**
       * Set when the guard left the kill switch to the claim (an attempt that holds nothing):
       * the claim refuses while halted and this says what to do then, given the halt JSON.
       */
      onHalted?: (halt: string) => Promise<GuardDecision>;
      /** The raw startAttempt answer when the guard claimed the attempt with its admission. */
      claimed?: unknown;
    }
  | { kind: 'wait'; delayMs: number; reason: string }
  | { kind: 'skip'; reason: string; data?: Record<string, unknown> }
  | { kind: 'fail'; failure: Failure };

/** Consulted around every attempt; implemented by src/guardrails. */
export interface AttemptGuard {
  /** Synchronous when it needs nothing from Redis (most attempts of a warm worker). */
  before(request: GuardRequest): GuardDecision | PromiseLike<GuardDecision>;
  /** Redis Function libraries the guard calls (the worker's heartbeat records them as used). */
  libraries?(): string[];
  /** Loads what the guard calls (its library) before the worker takes jobs; resolves either way. */
  preload?(): Promise<void>;
}

/** No guardrails: every attempt proceeds live, nothing to redact. */
export const OPEN_GUARD: AttemptGuard = {
  before(request) {
    return {
      kind: 'proceed',
      lease: { mock: request.run.mock, redact: (t) => t, after: () => undefined },
    };
  },
};

/**
 * What `secrets.NAME` renders to in templates: the held values, and `[redacted:NAME]` for a
 * declared credential this worker lacks. Such a step never calls out live (the credential
 * gate skips, fails or mocks it), and a mocked one then renders the same request, and so the
 * same recording hash, as a live run whose secret was redacted.
 */
export function templateSecrets(names: readonly string[], held: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, held[name] ?? `[redacted:${name}]`]));
}

/** The step's declared credentials that this process holds (names from the scenario, values from env). */
export function resolveSecrets(names: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value) out[name] = value;
  }
  return out;
}
