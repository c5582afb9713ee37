import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { runScript } from '../redis/scripts.ts';
import type { LuaScriptName } from '../redis/lua-scripts.generated.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import type { EventType, RunStatus } from './types.ts';
import { GLOBAL_EVENTS_CAP } from './events.ts';

/** A step the caller must now add to the queue (deterministic job id from these fields). */
export interface EnqueueItem {
  stepId: string;
  attempt: number;
  delayMs: number;
}

export interface EmittedEvent {
  type: EventType;
  stepId?: string;
  attempt?: number;
  data: Record<string, unknown>;
}

/** What every engine script returns. `code` 0 means "nothing to do / discarded". */
export interface TransitionResult {
  readonly code: number;
  readonly toEnqueue: EnqueueItem[];
  readonly emitted: EmittedEvent[];
  readonly runStatus: RunStatus | '';
  readonly extra: string;
  /** Whether any emitted event has one of these types, without parsing the events. */
  emittedAny(wants: (type: string) => boolean): boolean;
}

/** The keys and arguments one engine script is called with. */
export interface ScriptInvocation {
  readonly keys: string[];
  readonly args: (string | number)[];
}

/** Keys built on first read: a finish sent inside BullMQ's completion never sends them. */
class Invocation implements ScriptInvocation {
  private built: string[] | undefined;
  constructor(
    private readonly runKeys: Keys,
    readonly args: (string | number)[],
    private readonly extraKeys: readonly string[],
  ) {}
  /** Built on first read: the fused completion rebuilds a finish's keys in Lua from the run id. */
  get keys(): string[] {
    return (this.built ??= [...this.runKeys.runScriptKeys(this.args[0] as string), ...this.extraKeys]);
  }
}

/** What a finish carries beyond the attempt record. */
export interface FinishExtra {
  output?: string;
  retryDelayMs?: number;
  /**
   * The step's static entry (staticOf), when the caller has the compiled scenario: the script
   * then need not read it from the dag hash. It never changes after createRun.
   */
  staticEntry?: string;
  /** CachedRun.uncounted, for a succeeded finish (finishAttempt's ARGV[15]). */
  uncounted?: string;
}

export type AttemptOutcome = 'succeeded' | 'failed' | 'timed_out' | 'cancelled' | 'retry';

/** Stored with each attempt (attempts hash, field `<stepId>|<n>`). */
export interface AttemptRecord {
  attempt: number;
  status?: string;
  kind?: string;
  message?: string;
  stack?: string;
  retryDelayMs?: number;
  workerId: string;
  startedAt: number;
  finishedAt: number;
}

export interface RunMeta {
  scenario: string;
  status: RunStatus;
  createdAt: number;
  deadline: number;
  timeoutMs: number;
  failFast: boolean;
  maxParallel: number;
  suite?: string;
  mock?: boolean;
}

/**
 * An engine script's answer (result() in src/redis/lua/includes/run-core.lua): lists as joined
 * strings; from the fused completion the whole answer as one string, its parts joined by \x1f.
 */
export function parseResult(raw: unknown): TransitionResult {
  const [code, toEnqueue, emitted, runStatus, extra] = typeof raw === 'string' ? unpackAnswer(raw) : (raw as [number, string, string, string | null, string]);
  return new Transition(code, toEnqueue ?? '', emitted ?? '', (runStatus ?? '') as RunStatus | '', extra ?? '');
}

/** The answer of most transitions: shared, so frozen. */
const NOTHING_TO_ENQUEUE: EnqueueItem[] = Object.freeze([]) as unknown as EnqueueItem[];
const NO_KEYS: readonly string[] = Object.freeze([]);

/**
 * A parsed answer whose lists are split on first read: a worker's step answers are parsed
 * twice a step, and most of their events reach no listener.
 */
class Transition implements TransitionResult {
  private enqueue: EnqueueItem[] | undefined;
  private events: EmittedEvent[] | undefined;
  constructor(
    readonly code: number,
    private readonly enqueueText: string,
    private readonly emittedText: string,
    readonly runStatus: RunStatus | '',
    readonly extra: string,
  ) {}

  get toEnqueue(): EnqueueItem[] {
    if (this.enqueueText === '') return NOTHING_TO_ENQUEUE;
    return (this.enqueue ??= splitList(this.enqueueText, ',').map((s) => {
      const [stepId, attempt, delayMs] = s.split('|');
      return { stepId, attempt: Number(attempt), delayMs: Number(delayMs) };
    }));
  }

  get emitted(): EmittedEvent[] {
    return (this.events ??= splitList(this.emittedText, '\n').map((s) => {
      const [type, stepId, attempt] = s.split('|', 3);
      const json = s.slice(type.length + stepId.length + attempt.length + 3);
      return {
        type: type as EventType,
        stepId: stepId || undefined,
        attempt: attempt ? Number(attempt) : undefined,
        data: json ? (JSON.parse(json) as Record<string, unknown>) : {},
      };
    }));
  }

  /** Whether any emitted event has one of these types (without parsing the events). */
  emittedAny(wants: (type: string) => boolean): boolean {
    // Events are "type|sid|attempt|json" joined by '\n' (cjson escapes newlines in the JSON).
    const text = this.emittedText;
    for (let at = 0; at < text.length; ) {
      const bar = text.indexOf('|', at);
      if (bar < 0) return false;
      if (wants(text.slice(at, bar))) return true;
      const next = text.indexOf('\n', bar);
      if (next < 0) return false;
      at = next + 1;
    }
    return false;
  }
}

function unpackAnswer(packed: string): [number, string, string, string, string] {
  const [code, toEnqueue, emitted, runStatus, extra] = packed.split('\x1f');
  return [Number(code), toEnqueue, emitted, runStatus, extra];
}

function splitList(joined: string | null, separator: string): string[] {
  return joined ? joined.split(separator) : [];
}

/** Static per-step facts the scripts read: "<hasIf><coe>|<group>|<dependents csv>". */
export function staticOf(step: ScenarioDef['steps'][number], dependents: readonly string[]): string {
  return `${step.if !== undefined ? 1 : 0}${step.continueOnError ? 1 : 0}|${step.group ?? ''}|${dependents.join(',')}`;
}

/**
 * The handler of a step whose claim needs nothing decided in JavaScript first (no `if`, no
 * service, no credentials, no cost): a worker may claim it in the script that hands it the
 * job (src/worker/fused-completion.ts). '' for every other step.
 */
export function plainHandlerOf(step: ScenarioDef['steps'][number]): string {
  return step.if === undefined && step.service === undefined && step.credentials.length === 0 && step.cost === undefined ? step.uses : '';
}

/**
 * What a worker needs to admit a guarded step past its guardrails in the script that hands it
 * the job (src/worker/fused-completion.ts): "<handler>|<service>|<usdMicro>|<tokens>|<calls>",
 * the last three '' when the step declares no `cost` (the worker then admits it there only if
 * its handler has no estimate of its own). '' for a step whose admission needs JavaScript
 * first: an `if`, credentials, nothing to hold, or a token estimate to price from the input's
 * model. The static estimate is estimateOf's (src/guardrails/cost.ts) for such a step.
 */
export function handoverAdmissionOf(step: ScenarioDef['steps'][number]): string {
  if (step.if !== undefined || step.credentials.length > 0) return '';
  const cost = step.cost;
  if (step.service === undefined && cost === undefined) return '';
  if (!cost) return `${step.uses}|${step.service}|||`;
  const tokens = Math.max(0, Math.ceil(cost.tokens ?? 0));
  if (cost.usd === undefined && tokens > 0) return '';
  const usdMicro = Math.max(0, Math.ceil((cost.usd ?? 0) * 1_000_000));
  return `${step.uses}|${step.service ?? ''}|${usdMicro}|${tokens}|${Math.max(0, Math.ceil(cost.calls ?? 0))}`;
}

export interface RunStoreOptions {
  /** Written into events; '' for clients. */
  readonly workerId?: string;
  readonly globalEventsCap?: number;
}

/** Atomic state changes of runs and steps (one Lua script each). */
export function createRunStore(redis: RedisConnection, keys: Keys, options: RunStoreOptions = {}) {
  const workerId = options.workerId ?? '';
  const cap = String(options.globalEventsCap ?? GLOBAL_EVENTS_CAP);

  /** Keys and arguments of an engine script: the run's standard keys and arguments first. */
  function invocation(runId: string, args: (string | number)[], extraKeys: readonly string[] = NO_KEYS): ScriptInvocation {
    return new Invocation(keys, [runId, Date.now(), workerId, keys.control, cap, ...args], extraKeys);
  }

  async function call(name: LuaScriptName, runId: string, args: (string | number)[], extraKeys: string[] = []) {
    const { keys: scriptKeys, args: scriptArgs } = invocation(runId, args, extraKeys);
    return parseResult(await runScript(redis, name, scriptKeys, scriptArgs));
  }

  function finishArgs(outcome: AttemptOutcome, record: AttemptRecord, extra: FinishExtra, stepId: string): (string | number)[] {
    // A succeeded attempt's record is what the steps hash holds already (readRun makes it),
    // and a null output reads as null unstored (storedOutput, src/engine/outputs.ts).
    const json = outcome === 'succeeded' ? '' : JSON.stringify(record);
    const output = extra.output === undefined || extra.output === 'null' ? '' : extra.output;
    const args = [stepId, record.attempt, outcome, output, json, extra.retryDelayMs ?? 0, record.kind ?? '', record.message ?? '', extra.staticEntry ?? ''];
    if (outcome === 'succeeded' && extra.uncounted) args.push(extra.uncounted);
    return args;
  }

  return {
    redis,
    keys,

    /** Runs another script built on includes/run-state.lua (guardrails) with the standard keys and arguments. */
    script: call,

    /**
     * Writes a new run and queues its roots; code -1 when the id exists. `reused` maps step
     * ids to output JSON of steps that succeeded in a resumed run: they start `reused`.
     */
    createRun(
      runId: string,
      def: ScenarioDef,
      dependents: Readonly<Record<string, readonly string[]>>,
      meta: Record<string, string | number>,
      reused: ReadonlyMap<string, string> = new Map(),
    ) {
      const args: (string | number)[] = [JSON.stringify(meta), def.steps.length];
      for (const step of def.steps) args.push(step.id, staticOf(step, dependents[step.id] ?? []), step.needs.length, plainHandlerOf(step), handoverAdmissionOf(step));
      const groups = Object.entries(def.groups);
      args.push(groups.length);
      for (const [name, g] of groups) args.push(name, g.timeoutMs);
      args.push(reused.size);
      for (const [stepId, output] of reused) args.push(stepId, output);
      return call('createRun', runId, args, [keys.runsIndex]);
    },

    /** Claims the attempt; with `haltScenario`, refuses it (code 4) while a halt covers that scenario. */
    startAttempt(runId: string, stepId: string, attempt: number, options: { haltScenario?: string } = {}) {
      const checkHalt = options.haltScenario !== undefined;
      return call('startAttempt', runId, [stepId, attempt, checkHalt ? '1' : '0', options.haltScenario ?? ''], [keys.guard.halt]);
    },

    /** What `startAttempt` (without the kill-switch check) would send, for a caller that chains it to another script. */
    startInvocation(runId: string, stepId: string, attempt: number): ScriptInvocation {
      return invocation(runId, [stepId, attempt, '0', ''], [keys.guard.halt]);
    },

    finishAttempt(
      runId: string,
      stepId: string,
      outcome: AttemptOutcome,
      record: AttemptRecord,
      extra: FinishExtra = {},
    ) {
      return call('finishAttempt', runId, finishArgs(outcome, record, extra, stepId));
    },

    /** What `finishAttempt` would send, for a caller that sends it inside another script (src/worker/fused-finish.ts). */
    finishInvocation(runId: string, stepId: string, outcome: AttemptOutcome, record: AttemptRecord, extra: FinishExtra = {}): ScriptInvocation {
      return invocation(runId, finishArgs(outcome, record, extra, stepId));
    },

    skipStep(runId: string, stepId: string, attempt: number, reason: string, data?: Record<string, unknown>) {
      return call('skipStep', runId, [stepId, attempt, reason, data ? JSON.stringify(data) : '']);
    },

    endRun(runId: string, status: 'cancelled' | 'halted' | 'timed_out' | 'failed', message: string) {
      return call('endRun', runId, [status, message]);
    },

    timeoutGroup(runId: string, group: string, message: string) {
      return call('timeoutGroup', runId, [group, message]);
    },

    releaseAttempt(runId: string, stepId: string, attempt: number, why: string) {
      return call('releaseAttempt', runId, [stepId, attempt, why]);
    },
  };
}

export type RunStore = ReturnType<typeof createRunStore>;
