/**
 * One round trip per step on a busy worker, as raw BullMQ makes: BullMQ's `moveToFinished`
 * (complete this job, hand this slot its next one) runs in one Lua script with
 *   1. the engine's `finishAttempt` of the job, when the processor deferred it here (a step
 *      that succeeded), before BullMQ's part, so the state change is committed before the job
 *      leaves the active list, atomically; then BullMQ's addStandardJob of each step it made
 *      ready that the processor recorded an add for (src/worker/step-job-add.ts: a dependent
 *      that needs this step alone; the others it made ready the worker queues after), so
 *      BullMQ's part hands this slot a chain's next step; and
 *   2. the engine's `startAttempt` of the job BullMQ hands over, when that step is plain (no
 *      `if`, service, credentials or cost: `p|<step>` in the run's dag hash, written by
 *      createRun) and its handler is one this worker admits without a reservation.
 * Without it a plain step costs three round trips (claim, finish, completion); on a loopback
 * socket each write is the largest single CPU cost of a round trip (docs/performance.md).
 *
 * How: after BullMQ registered its scripts on the worker's connection, the connection's
 * `moveToFinished:<version>` command is wrapped. A processor `defer`s its finish under the job
 * id and returns; BullMQ completes the job and the wrapper sends the composed script instead.
 * The claim it made for the next job waits in `takeClaim` for that job's processor. BullMQ's
 * `moveToActive` (a slot's first job, or the job that woke a waiting slot: the next step of a
 * chain) is wrapped the same way, with the claim and no finish. Each composition is a Redis
 * Function library (src/redis/functions.ts): its functions are made once, when it loads, not
 * on every call as a script's are; where Functions are refused it runs as a script.
 *
 * This reads BullMQ's own script texts, so it engages only for a moveToFinished (and wraps
 * only a moveToActive, adds only with an addStandardJob) whose text this composition was
 * verified against (VERIFIED_MOVE_TO_FINISHED, VERIFIED_MOVE_TO_ACTIVE,
 * VERIFIED_ADD_STANDARD_JOB; a test fails when an upgrade changes one) and only on a
 * standalone Redis. Otherwise every step takes the portable path,
 * with the same results. SQ_FUSED_COMPLETION=0 turns it off.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { luaIncludes, luaScripts } from '../redis/lua-scripts.generated.ts';
import { LuaLibraries, luaLibrary, type LuaLibrary } from '../redis/functions.ts';
import { luaFunction, luaSha, runScript } from '../redis/scripts.ts';
import type { ScriptInvocation } from '../engine/store.ts';
import { GLOBAL_EVENTS_CAP } from '../engine/events.ts';
import { hoistedScriptFunction } from './hoist-lua.ts';
import { admitKeys, settleKeys } from '../guardrails/admission.ts';
import type { DeferredSettle } from './guard.ts';
import { ADD_STANDARD_JOB_KEYS } from './step-job-add.ts';

/** sha1 of BullMQ moveToFinished texts this composition was verified against → BullMQ version. */
export const VERIFIED_MOVE_TO_FINISHED = new Map([['69666e69dd5621df59067a03de685e55a486560d', '6.7.0']]);
/** sha1 of BullMQ moveToActive texts the claim on hand-over was verified against → BullMQ version. */
export const VERIFIED_MOVE_TO_ACTIVE = new Map([['d96ca626f1ea141b44a856b312fc636d99aa9ea9', '6.7.0']]);
/** sha1 of BullMQ addStandardJob texts the adds in a completion were verified against → BullMQ version. */
export const VERIFIED_ADD_STANDARD_JOB = new Map([['5ab432e88830d573e2fa33392ffbd4ad25a9b100', '6.7.0']]);
/** moveToFinished takes 14 keys; ARGV[1] is the job id. */
const BULL_KEYS = 14;
/**
 * Its keys that are the same on every call of one worker (the queue's lists and hashes); 10–12
 * are the target set, the job's hash and the target's metrics. The composed script holds the
 * constant ones as literals, so a call sends 11 keys fewer (they were a quarter of its bytes).
 */
const FINISHED_CONSTANT_KEYS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13];
const FINISHED_JOB_KEYS = [10, 11, 12];
/** moveToActive takes 11 keys, all of them the queue's. */
const BULL_ACTIVE_KEYS = 11;
const ACTIVE_CONSTANT_KEYS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
/** runId, now, workerId, control channel, stream cap: what every engine script takes first. */
const STANDARD_ARGS = 5;
/** How long a finish waits for BullMQ's retry of a completion that failed on the connection. */
const RETRY_FALLBACK_MS = 5_000;
/** Claims waiting for their job's processor; more means processors never came (bounded anyway). */
const MAX_WAITING_CLAIMS = 1_000;

type Command = (...args: unknown[]) => Promise<unknown>;
type ScriptClient = Redis & { scriptsSet?: Record<string, { lua: string }> } & Record<string, unknown>;

interface Deferred {
  readonly invocation: ScriptInvocation;
  readonly done: FinishDone;
  /** The guard's settle of the same attempt, run before the finish. */
  readonly settle?: DeferredSettle;
  /** Jobs to add for steps the finish makes ready: stepId, then BullMQ's 3 arguments, per step (ReadyAdds). */
  readonly adds?: readonly unknown[];
}

/**
 * BullMQ's addStandardJob calls (src/worker/step-job-add.ts) for steps a finish may make ready,
 * flat: per step its id, then the call's 3 arguments (its keys are the completion's addKeys).
 */
export type ReadyAdds = readonly unknown[];

/** Called once with the engine script's raw answer, or with why it could not be recorded. */
export type FinishDone = (error: unknown, raw?: unknown) => void;

export interface FusedCompletion {
  /**
   * Registers the engine's finish of job `jobId`: sent with BullMQ's completion of that job,
   * or alone if BullMQ does not complete it in this turn of the event loop (a closing worker).
   * `done` gets the engine script's raw answer: a callback, not a promise, because this runs
   * once per step and a promise chain per step was a measurable part of a worker's garbage.
   */
  defer(jobId: string, invocation: ScriptInvocation, done: FinishDone, settle?: DeferredSettle, adds?: ReadyAdds): void;
  /**
   * The BullMQ command (`addStandardJob:<version>`) and its 9 keys with which the completion adds
   * the jobs of steps its finish makes ready (`adds` of defer); undefined when it adds none.
   */
  readonly adding?: { readonly command: string; readonly keys: readonly string[] };
  /** The raw startAttempt answer for this job when it was claimed as BullMQ handed it over. */
  takeClaim(jobId: string): unknown;
  /** The Redis Function libraries this worker has called (its heartbeat records them as used). */
  libraries(): string[];
}

export interface FusedCompletionOptions {
  readonly keys: Keys;
  readonly workerId: string;
  /**
   * Handlers whose plain steps this worker claims in the script: the built-in guard admits them
   * without a reservation and leaves the kill switch to the claim, which checks it.
   */
  readonly plainHandlers: readonly string[];
  /**
   * Set when the worker runs the built-in guardrails: a guarded step whose admission needs
   * nothing from JavaScript (`a|<step>` in the dag hash, store.ts handoverAdmissionOf) is
   * admitted and claimed as its job is handed over. `handlers`: every handler of this worker;
   * `leaseMs`: how long its permits and reservations hold unless renewed.
   */
  readonly handover?: { readonly handlers: readonly string[]; readonly leaseMs: number };
  /**
   * The step queue's keys of BullMQ's addStandardJob (wait, paused, meta, id, completed,
   * delayed, active, events, marker): a finish deferred with `adds` queues the steps it makes
   * ready in the completion's script, which then hands the slot the first of them.
   */
  readonly addKeys?: readonly string[];
}

/** A guarded step admitted as its job was handed over (handoverOf). */
export interface HandoverAdmission {
  /** admitAttempt's answer {code, a, b, events} (src/guardrails/admission.ts admissionOf). */
  readonly raw: [string, string, string, string[]];
  readonly leaseId: string;
  /** The UTC day of the daily budget it reserved in. */
  readonly day: string;
  /** startAttempt's packed answer when it was admitted; undefined otherwise. */
  readonly claim?: string;
}

/** A hand-over's answer (takeClaim) read as an admission; undefined for a plain claim. */
export function handoverOf(answer: unknown): HandoverAdmission | undefined {
  if (typeof answer !== 'string' || answer.charCodeAt(0) !== 33) return undefined;
  // "!" RS code RS a RS b RS leaseId RS day RS events (GS-separated) RS claim (may be '')
  const f = answer.split('\x1e');
  return { raw: [f[1], f[2], f[3], f[6] === '' ? [] : f[6].split('\x1d')], leaseId: f[4], day: f[5], claim: f[7] === '' ? undefined : f[7] };
}

/** Appends BullMQ's arguments after its keys to `out`, Lua-safe (a Lua table cannot hold nil). */
function pushBullArgv(out: unknown[], flat: readonly unknown[], keys: number): unknown[] {
  for (let i = keys; i < flat.length; i++) out.push(flat[i] ?? '');
  return out;
}

/** A Lua string literal for any text. */
function luaString(text: string): string {
  return `"${[...Buffer.from(text, 'utf8')].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`)).join('')}"`;
}

/**
 * Lua for the message of `error`, a Lua error value (redis.call raises a table {err = ...}). An
 * expression, not a function: the script would make a function anew on every call.
 */
function errText(error: string): string {
  return `tostring(type(${error}) == 'table' and ${error}.err or ${error})`;
}

/**
 * Lua building a run's 10 engine keys from its id, from the same templates as keys.ts, and the
 * kill switch's hash as the 11th (startAttempt's). The last run's keys are kept: consecutive
 * finishes and claims are mostly of the same run.
 */
function runKeysLua(keys: Keys): string {
  const mark = '\u0001';
  const parts = keys.runScriptKeys(mark).map((k) => k.split(mark).map(luaString).join(' .. id .. '));
  return `local keysOf, keysFor = nil, nil
local function runKeys(id)
  if id ~= keysFor then keysOf, keysFor = {${parts.join(', ')}, HALT}, id end
  return keysOf
end`;
}

/** An attempt's guard scope (AttemptIdentity's) as the composed scripts take it. */
type GuardScope = { runId: string; service: string; suite: string; day: string };

/**
 * Lua of `local function <name>(runId, service, suite, day)` answering the keys `template`
 * makes of that scope (admitKeys or settleKeys, src/guardrails/admission.ts), with marks in
 * their places so they are the same keys. The last call's keys are kept: consecutive
 * attempts are mostly of one run and service.
 */
function scopeKeysLua(name: string, template: (scope: GuardScope) => string[]): string {
  const marks = { runId: '\u0001R\u0001', service: '\u0001S\u0001', suite: '\u0001U\u0001', day: '\u0001D\u0001' };
  const names: Record<string, string> = { [marks.runId]: 'runId', [marks.service]: 'service', [marks.suite]: 'suite', [marks.day]: 'day' };
  const parts = template(marks).map((key) =>
    key
      .split(/(\u0001[RSUD]\u0001)/)
      .filter((piece) => piece !== '')
      .map((piece) => names[piece] ?? luaString(piece))
      .join(' .. '),
  );
  return [
    'local ' + name + ' do',
    '  local made, kRun, kService, kSuite, kDay = nil, nil, nil, nil, nil',
    `  ${name} = function(runId, service, suite, day)`,
    // Lua strings are interned: these compare as pointers.
    '    if runId ~= kRun or service ~= kService or suite ~= kSuite or day ~= kDay then',
    `      made, kRun, kService, kSuite, kDay = {${parts.join(', ')}}, runId, service, suite, day`,
    '    end',
    '    return made',
    '  end',
    'end',
  ].join('\n');
}

/**
 * Lua admitting a guarded step as its job is handed over (`admitNext`): admitAttempt of the
 * built-in guardrails with the static estimate from `a|<step>`, then its claim, startAttempt,
 * when admitted. Answers "<jobId> US ! RS code RS a RS b RS leaseId RS day RS events RS claim"
 * (handoverOf reads it); false when the step is not one this worker admits here.
 */
function handoverLua(options: FusedCompletionOptions): string {
  if (!options.handover) return '';
  const known = [...options.handover.handlers].sort().map((h) => `[${luaString(h)}] = true`).join(', ');
  return [
    `local admitAttempt = ${luaFunction(luaScripts.admitAttempt.body)}`,
    scopeKeysLua('guardKeys', (scope) => admitKeys(options.keys, scope)),
    `local KNOWN, LEASE_MS = {${known}}, ${luaString(String(options.handover.leaseMs))}`,
    // The UTC day "YYYY-MM-DD" of a time in ms (days to civil date, H. Hinnant), kept for the day.
    'local dayOf, dayNumber = nil, nil',
    'local function utcDay(ms)',
    '  local z = math.floor(ms / 86400000)',
    '  if z == dayNumber then return dayOf end',
    '  local days = z + 719468',
    '  local era = math.floor(days / 146097)',
    '  local doe = days - era * 146097',
    '  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)',
    '  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))',
    '  local mp = math.floor((5 * doy + 2) / 153)',
    '  local d = doy - math.floor((153 * mp + 2) / 5) + 1',
    '  local m = mp + 3',
    '  if mp >= 10 then m = mp - 9 end',
    '  local y = yoe + era * 400',
    '  if m <= 2 then y = y + 1 end',
    "  dayNumber, dayOf = z, string.format('%04d-%02d-%02d', y, m, d)",
    '  return dayOf',
    'end',
    'local function admitNext(k, dag, runId, stepId, attempt, jobId, now, workerId)',
    '  local S = string',
    // "<handler>|<service>|<usdMicro>|<tokens>|<calls>" (store.ts handoverAdmissionOf).
    '  local a = dag[3]',
    "  local p1 = S.find(a, '|', 1, true)",
    "  local p2 = p1 and S.find(a, '|', p1 + 1, true)",
    "  local p3 = p2 and S.find(a, '|', p2 + 1, true)",
    "  local p4 = p3 and S.find(a, '|', p3 + 1, true)",
    '  if not p4 then return false end',
    '  local handler, service = S.sub(a, 1, p1 - 1), S.sub(a, p1 + 1, p2 - 1)',
    '  local usd, tokens, calls = S.sub(a, p2 + 1, p3 - 1), S.sub(a, p3 + 1, p4 - 1), S.sub(a, p4 + 1)',
    '  if not KNOWN[handler] then return false end',
    "  if usd == '' then",
    // No `cost`: a handler with an estimate of its own reads it from the input (JavaScript).
    '    if not PLAIN[handler] then return false end',
    "    usd, tokens, calls = '0', '0', '0'",
    '  end',
    "  local scenario, suite = dag[4] or '', dag[5] or ''",
    '  local day = utcDay(tonumber(now))',
    // Unique per attempt and hand-over: a job handed over again gets a lease of its own.
    "  local leaseId = runId .. '|' .. stepId .. '|' .. attempt .. '|' .. workerId .. '.' .. jobId .. '.' .. now",
    "  local hasSuite = '0'",
    "  if suite ~= '' then hasSuite = '1' end",
    '  GUARD_EVENTS = {}',
    "  local r = admitAttempt(guardKeys(runId, service, suite, day), {leaseId, LEASE_MS, scenario, service, '1', usd, tokens, calls, runId, stepId, attempt, workerId, CAP, CONTROL, hasSuite})",
    "  local claim = ''",
    // The kill switch was read by the admission: the claim does not read it again.
    // A claim that fails leaves the admission standing: the processor then claims on its own.
    "  if r[1] == 1 then",
    "    local ok, answer = pcall(startAttempt, k, {runId, now, workerId, CONTROL, CAP, stepId, attempt, '0', '', dag[2]})",
    '    if ok then claim = packed(answer) end',
    '  end',
    "  return jobId .. '\\31!\\30' .. r[1] .. '\\30' .. r[2] .. '\\30' .. r[3] .. '\\30' .. leaseId .. '\\30' .. day .. '\\30' .. table.concat(r[4], '\\29') .. '\\30' .. claim",
    'end',
  ].join('\n');
}

/**
 * Lua of the engine's part, made once when the library loads (src/redis/functions.ts): the
 * run-state functions (includes/run-state.lua), finishAttempt and startAttempt as functions of
 * their KEYS and ARGV, and `claimOf(bull, now, workerId)`: the engine's startAttempt of the job
 * BullMQ hands over (`claimNext`, the job's fields as BullMQ returns them) when its step is
 * plain; and CONTROL and CAP. finishAttempt and startAttempt include no more than run-state
 * (test/unit/lua-generated.test.ts).
 */
function engineLua(options: FusedCompletionOptions): string {
  // Sorted: the same handlers make the same library, whatever their order.
  const plain = [...options.plainHandlers].sort().map((h) => `[${luaString(h)}] = true`).join(', ');
  // The control channel and the global stream's cap, which every engine script takes.
  const control = luaString(options.keys.control);
  const cap = luaString(String(GLOBAL_EVENTS_CAP));
  return [
    luaIncludes['run-state'],
    // The guard's includes, once: admitAttempt and settleAttempt take the same ones
    // (test/unit/lua-generated.test.ts); GUARD_EVENTS is theirs.
    luaScripts.settleAttempt.includesLua,
    `local finishAttempt = ${luaFunction(luaScripts.finishAttempt.body)}`,
    `local startAttempt = ${luaFunction(luaScripts.startAttempt.body)}`,
    `local CONTROL, CAP, PLAIN, HALT = ${control}, ${cap}, {${plain}}, ${luaString(options.keys.guard.halt)}`,
    // '0'..'63' -> 0..63, written out: the composed calls' argument counts (main).
    `local COUNTS = {${Array.from({ length: 64 }, (_, i) => `['${i}'] = ${i}`).join(', ')}}`,
    // An engine answer as one string (parseResult in src/engine/store.ts splits it): Redis
    // converts every table of a script's answer at a cost, and ioredis parses each one. The
    // common codes are literals, not formatted (a Lua number goes through printf), and compared
    // rather than looked up in a table that would be made on every call.
    'local function packed(r)',
    '  local code = r[1]',
    "  if code == 1 then code = '1' elseif code == 0 then code = '0' else code = tostring(code) end",
    "  return code .. '\\31' .. r[2] .. '\\31' .. r[3] .. '\\31' .. (r[4] or '') .. '\\31' .. r[5]",
    'end',
    runKeysLua(options.keys),
    handoverLua(options),
    'local function claimNext(job, jobId, now, workerId)',
    // The string library, called ~15 times below, read from the globals once (not at the
    // library's top level, where Redis refuses the read while the library loads).
    '  local S = string',
    '  local name, data',
    // BullMQ stores name and data first, and a small job's hash (a listpack) answers in that
    // order: then only 'defa' is looked for in the rest.
    // A job that stalled too often (`defa`) is failed by BullMQ without running: nothing to claim.
    "  if job[1] == 'name' and job[3] == 'data' then",
    '    name, data = job[2], job[4]',
    "    for i = 5, #job, 2 do if job[i] == 'defa' then return false end end",
    '  else',
    '    for i = 1, #job, 2 do',
    '      local field = job[i]',
    "      if field == 'name' then name = job[i + 1] elseif field == 'data' then data = job[i + 1]",
    "      elseif field == 'defa' then return false end",
    '    end',
    '  end',
    // 'step', or 'step:<handler>[:<group>]' for a plain step (stepJobName, src/engine/jobs.ts).
    "  if not data or not name or S.sub(name, 1, 4) ~= 'step' then return false end",
    // Cut, not decoded: cjson makes a table, and a number of the attempt to format back; nor
    // matched (a pattern with captures costs more than these cuts). A step job's data
    // as enqueueSteps writes it (src/engine/jobs.ts), '["<runId>","<stepId>",<attempt>]'. With
    // no backslash in it no id holds a '"', so the cuts are exact; an id outside
    // [A-Za-z0-9_-] (never written) would name a run that does not exist. Data of any other
    // shape is not claimed here: its processor claims it.
    "  if S.byte(data, 1) ~= 91 or S.byte(data, 2) ~= 34 or S.byte(data, -1) ~= 93 then return false end",
    "  if S.find(data, '\\\\', 3, true) then return false end",
    "  local a = S.find(data, '\",\"', 3, true)",
    '  if not a then return false end',
    "  local b = S.find(data, '\",', a + 3, true)",
    '  if not b then return false end',
    '  local runId, stepId, attempt = S.sub(data, 3, a - 1), S.sub(data, a + 3, b - 1), S.sub(data, b + 2, -2)',
    "  if runId == '' or stepId == '' or not S.find(attempt, '^%d+$') then return false end",
    '  local k = runKeys(runId)',
    // The step's plain handler and group, from the job's name or else the dag hash; the group
    // goes to startAttempt as a static entry (its ARGV[10]) of which it reads only that.
    '  local handler, entry',
    "  if name == 'step' then",
    ...(options.handover
      ? [
          // A guarded step admitted here has `a|<step>`; the run's scenario and suite come along.
          "    local dag = redis.call('HMGET', k[3], 'p|' .. stepId, stepId, 'a|' .. stepId, '|scenario', '|suite')",
          '    if not dag[1] and dag[2] and dag[3] then return admitNext(k, dag, runId, stepId, attempt, jobId, now, workerId) end',
        ]
      : ["    local dag = redis.call('HMGET', k[3], 'p|' .. stepId, stepId)"]),
    '    handler, entry = dag[1], dag[2]',
    '  elseif S.byte(name, 5) == 58 then',
    "    local colon = S.find(name, ':', 6, true)",
    "    if colon then handler, entry = S.sub(name, 6, colon - 1), '00|' .. S.sub(name, colon + 1) .. '|'",
    "    else handler, entry = S.sub(name, 6), '00||' end",
    '  else',
    '    return false',
    '  end',
    '  if not handler or not entry or not PLAIN[handler] then return false end',
    // '' = the run's scenario, which startAttempt reads when a halt is on.
    "  local argv = {runId, now, workerId, CONTROL, CAP, stepId, attempt, '1', '', entry}",
    "  return jobId .. '\\31' .. packed(startAttempt(k, argv))",
    'end',
    // BullMQ answers {jobFields, jobId, limitUntil, delayUntil}; an empty table when no job.
    'local function claimOf(bull, now, workerId)',
    "  if type(bull) ~= 'table' or type(bull[1]) ~= 'table' or #bull[1] == 0 then return false end",
    '  local ok, answer = pcall(claimNext, bull[1], bull[2], now, workerId)',
    "  if ok then return answer end",
    `  return 'ERR:' .. ${errText('answer')}`,
    'end',
  ].join('\n');
}

/** Lua for BullMQ's KEYS table: the constant keys as literals, the others from ARGV (`slot -> Lua`). */
function bullKeysLua(count: number, constants: readonly string[], constantSlots: readonly number[], others: Record<number, string>): string {
  const parts = Array.from({ length: count }, (_, i) => {
    const c = constantSlots.indexOf(i);
    return c >= 0 ? luaString(constants[c]) : others[i];
  });
  return `{${parts.join(', ')}}`;
}

/**
 * Lua of `addReady(list, ARGV, from, nad)`: adds, with BullMQ's addStandardJob (`bullAdd`), the
 * jobs of the steps in `list` (a finish's toEnqueue, "stepId|attempt|delayMs,...") that ARGV
 * holds an add for (from `from`, nad of them: stepId and the call's 3 arguments each), and
 * answers the list of the others, which the worker queues itself. Only a first attempt without
 * delay is added here: that is what the adds were recorded for.
 */
function addReadyLua(addLua: string, addKeys: readonly string[]): string {
  return [
    hoistedScriptFunction('bullAdd', addLua),
    `local ADD_KEYS = {${addKeys.map(luaString).join(', ')}}`,
    'local function addReady(list, ARGV, from, nad)',
    '  local S = string',
    '  local left, pos, last = {}, 1, #list',
    '  while pos <= last do',
    "    local comma = S.find(list, ',', pos, true) or (last + 1)",
    '    local item = S.sub(list, pos, comma - 1)',
    '    pos = comma + 1',
    '    local added = false',
    "    local bar = S.find(item, '|', 1, true)",
    "    if bar and S.sub(item, bar) == '|1|0' then",
    '      local sid = S.sub(item, 1, bar - 1)',
    '      for j = from, from + 4 * (nad - 1), 4 do',
    '        if ARGV[j] == sid then',
    // An add that raises leaves the step in the list for the worker's own add (a raise before
    // BullMQ stored the job; one after it, as in BullMQ's own add, leaves the job for recovery).
    '          added = pcall(bullAdd, ADD_KEYS, {ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]})',
    '          break',
    '        end',
    '      end',
    '    end',
    '    if not added then left[#left + 1] = item end',
    '  end',
    "  return table.concat(left, ',')",
    'end',
  ].join('\n');
}

/**
 * The composed moveToFinished, `main`. No KEYS. ARGV: the finish's script-specific arguments
 * after the run id (na of them, 0 when no finish was deferred), BullMQ's keys 10–12, BullMQ's
 * arguments, the scope of the guard's settleAttempt (run id, service, suite, day: its keys are
 * made here) and its arguments (nsk = 4 and nsa of them, 0 without a settle), the adds of steps
 * the finish may make ready (4 × nad: addReadyLua), then workerId, now, na, nsk, nsa, nad.
 * The engine's keys are built here from the run id and BullMQ's constant keys are literals:
 * the fused path runs on standalone Redis only, and key names were the largest part of
 * encoding the command. The settle goes first: the usage is committed before the finish can
 * end the run. The adds go after the finish and before BullMQ's completion, which then hands
 * this slot the first of them: a chain's next step starts without a round trip of its own.
 */
function composeFinished(bullLua: string, options: FusedCompletionOptions, constants: readonly string[], addLua: string | undefined): string {
  const jobKeys = Object.fromEntries(FINISHED_JOB_KEYS.map((slot, i) => [slot, `ARGV[na + ${i + 1}]`]));
  return [
    engineLua(options),
    // The guard's settle (src/guardrails); its includes are engineLua's.
    `local settleAttempt = ${luaFunction(luaScripts.settleAttempt.body)}`,
    scopeKeysLua('settleKeys', (scope) => settleKeys(options.keys, scope)),
    // BullMQ's function definitions made once, at load (src/worker/hoist-lua.ts).
    hoistedScriptFunction('bullFinished', bullLua),
    addLua && options.addKeys ? addReadyLua(addLua, options.addKeys) : 'local addReady = nil',
    'local function main(_, ARGV)',
    '  local n = #ARGV',
    // Small counts, looked up rather than parsed (strtod is ~600 instructions a number).
    '  local na, nsk, nsa, nad = COUNTS[ARGV[n - 3]] or tonumber(ARGV[n - 3]), COUNTS[ARGV[n - 2]] or tonumber(ARGV[n - 2]), COUNTS[ARGV[n - 1]] or tonumber(ARGV[n - 1]), COUNTS[ARGV[n]] or tonumber(ARGV[n])',
    '  local WORKER_ID, NOW_MS = ARGV[n - 5], ARGV[n - 4]',
    '  local addFrom = n - 5 - 4 * nad',
    '  local bullEnd = addFrom - 1 - nsk - nsa',
    '  local settled = false',
    // GUARD_EVENTS and GUARD_NOW (includes/guard-common.lua) outlive a call in a library too:
    // the settle and the admission of the next job share one reading of Redis's clock.
    '  GUARD_EVENTS, GUARD_NOW = {}, nil',
    '  if nsk > 0 then',
    // Its keys made here from the scope (nsk = 4: run id, service, suite, day).
    '    local ok, answer = pcall(settleAttempt, settleKeys(ARGV[bullEnd + 1], ARGV[bullEnd + 2], ARGV[bullEnd + 3], ARGV[bullEnd + 4]), {unpack(ARGV, bullEnd + nsk + 1, bullEnd + nsk + nsa)})',
    `    if ok then settled = answer else settled = 'ERR:' .. ${errText('answer')} end`,
    '  end',
    // CARRY (includes/run-core.lua) outlives a call in a library: never from an earlier one.
    '  local engine = false',
    '  CARRY = nil',
    // A settle that failed keeps the finish back: the worker sends both alone, the settle first,
    // so that the usage is committed before the finish can end the run.
    "  if na > 0 and (type(settled) ~= 'string') then",
    // Made at its size: a table that grows is reallocated on the way.
    '    local argv = {ARGV[1], NOW_MS, WORKER_ID, CONTROL, CAP, unpack(ARGV, 2, na)}',
    // An error in an engine part must not undo or skip BullMQ's: Redis keeps a failed
    // script's earlier writes, so each engine part answers 'ERR:<message>' instead.
    '    local ok, answer = pcall(finishAttempt, runKeys(ARGV[1]), argv)',
    // The steps it made ready, queued before BullMQ's part looks for this slot's next job.
    "    if ok and nad > 0 and addReady and answer[1] == 1 and answer[2] ~= '' then answer[2] = addReady(answer[2], ARGV, addFrom, nad) end",
    `    if ok then engine = packed(answer) else engine = 'ERR:' .. ${errText('answer')} end`,
    // The run as the finish left it, for the claim of the next job when it is of the same run.
    '    if ok and RUN then CARRY = {K_RUN, STATUS, RUN.deadline} end',
    '  end',
    `  local bull = bullFinished(${bullKeysLua(BULL_KEYS, constants, FINISHED_CONSTANT_KEYS, jobKeys)}, {unpack(ARGV, na + ${FINISHED_JOB_KEYS.length + 1}, bullEnd)})`,
    '  if bull == nil then bull = false end',
    '  return {engine, bull, claimOf(bull, NOW_MS, WORKER_ID), settled}',
    'end',
  ].join('\n');
}

/**
 * The composed moveToActive (a slot's first job, or one woken by a new job), `main`: BullMQ's
 * script, then the claim of the job it hands over. No KEYS (BullMQ's 11 are literals). ARGV:
 * BullMQ's, workerId, now.
 */
function composeActive(bullLua: string, options: FusedCompletionOptions, constants: readonly string[]): string {
  return [
    engineLua(options),
    hoistedScriptFunction('bullActive', bullLua),
    // BullMQ's keys are all constant: one table for every call.
    `local BULL_KEYS = ${bullKeysLua(BULL_ACTIVE_KEYS, constants, ACTIVE_CONSTANT_KEYS, {})}`,
    'local function main(_, ARGV)',
    '  local n = #ARGV',
    '  local WORKER_ID, NOW_MS = ARGV[n - 1], ARGV[n]',
    '  CARRY = nil',
    '  GUARD_EVENTS, GUARD_NOW = {}, nil',
    '  local bull = bullActive(BULL_KEYS, {unpack(ARGV, 1, n - 2)})',
    '  if bull == nil then bull = false end',
    '  return {bull, claimOf(bull, NOW_MS, WORKER_ID)}',
    'end',
  ].join('\n');
}

/**
 * The composition for a call's BullMQ keys: made from the first call's constant keys, and
 * undefined for a later call whose constant keys differ from them.
 */
function composer(namespace: string, slots: readonly number[], compose: (constants: string[]) => string): (flat: readonly unknown[]) => LuaLibrary | undefined {
  let made: { script: LuaLibrary; constants: unknown[] } | undefined;
  return (flat) => {
    if (!made) {
      const constants = slots.map((i) => flat[i]);
      made = { script: luaLibrary(namespace, compose(constants.map(String))), constants };
    }
    for (let k = 0; k < slots.length; k++) if (flat[slots[k]] !== made.constants[k]) return undefined;
    return made.script;
  };
}

/** Why the fused path is off for this connection, or undefined when it can be used. */
export function fusedCompletionUnavailable(client: RedisConnection): string | undefined {
  if (process.env.SQ_FUSED_COMPLETION === '0') return 'SQ_FUSED_COMPLETION=0';
  if ('isCluster' in client && client.isCluster) return 'Redis Cluster connection';
  const scripts = (client as ScriptClient).scriptsSet ?? {};
  const name = Object.keys(scripts).find((k) => k.startsWith('moveToFinished:'));
  if (!name) return 'BullMQ moveToFinished is not registered on this connection';
  if (!VERIFIED_MOVE_TO_FINISHED.has(luaSha(scripts[name].lua))) return `BullMQ ${name.split(':')[1]} moveToFinished is not one this composition was verified against`;
  return undefined;
}

/** Wraps BullMQ's moveToFinished on `client` (the BullMQ worker's own connection); undefined when unavailable. */
export function fuseCompletion(client: RedisConnection, options: FusedCompletionOptions, log: Logger): FusedCompletion | undefined {
  const why = fusedCompletionUnavailable(client);
  if (why) {
    log.info({ why }, 'fused completion off: each step claims and finishes in round trips of its own');
    return undefined;
  }
  const redis = client as ScriptClient;
  const scripts = redis.scriptsSet as Record<string, { lua: string }>;
  const name = Object.keys(scripts).find((k) => k.startsWith('moveToFinished:')) as string;
  const libraries = new LuaLibraries(redis, options.keys.functions, log);
  // The adds of ready steps: with BullMQ's own addStandardJob, verified like moveToFinished.
  const addName = Object.keys(scripts).find((k) => k.startsWith('addStandardJob:'));
  const addLua = addName && options.addKeys?.length === ADD_STANDARD_JOB_KEYS && VERIFIED_ADD_STANDARD_JOB.has(luaSha(scripts[addName].lua)) ? scripts[addName].lua : undefined;
  if (options.addKeys && !addLua) log.info({ addStandardJob: addName ?? 'not registered' }, 'adds with the completion off: a step queues its dependents in a round trip of its own');
  const adding = addLua && addName && options.addKeys ? { command: addName, keys: options.addKeys } : undefined;
  const finishedScript = composer(options.keys.prefix, FINISHED_CONSTANT_KEYS, (constants) => composeFinished(scripts[name].lua, options, constants, addLua));
  const original = redis[name] as Command;
  let warnedKeys = false;
  /** Never expected (one worker, one queue): BullMQ's own call then, and the finish alone. */
  const otherKeys = (which: string) => {
    if (!warnedKeys) log.warn({ which }, 'BullMQ called with queue keys other than its first call\'s: this call is not fused');
    warnedKeys = true;
  };
  const deferred = new Map<string, Deferred>();
  const claims = new Map<string, unknown>();

  /** Pairs of job id and finish deferred in this turn of the event loop. */
  let unsentCheck: (string | Deferred)[] = [];
  function sendUnsent(): void {
    const check = unsentCheck;
    unsentCheck = [];
    for (let i = 0; i < check.length; i += 2) {
      const jobId = check[i] as string;
      if (deferred.get(jobId) === check[i + 1]) sendAlone(jobId, check[i + 1] as Deferred);
    }
  }

  /** Sends a finish alone: BullMQ will not complete its job with it. */
  function sendAlone(jobId: string, finish: Deferred): void {
    if (deferred.get(jobId) !== finish) return;
    deferred.delete(jobId);
    sendFinish(finish);
  }

  function sendFinish(finish: Deferred): void {
    // The settle first, as in the composed script: the finish may end the run.
    const settled = finish.settle ? finish.settle.alone() : Promise.resolve();
    settled
      .then(() => runScript(redis, 'finishAttempt', finish.invocation.keys, finish.invocation.args))
      .then(
        (raw) => finish.done(undefined, raw),
        (err: unknown) => finish.done(err),
      );
  }

  /** A claim the script made for the job BullMQ handed over: "<jobId>\x1f<packed answer>", or 'ERR:<message>'. */
  function takeAnswer(claim: string, bull: unknown): void {
    if (claim.startsWith('ERR:')) {
      // The claim failed inside the script; the processor claims in a call of its own.
      log.warn({ jobId: Array.isArray(bull) ? bull[1] : undefined, err: claim.slice(4) }, 'claim with the job hand-over failed');
      return;
    }
    const cut = claim.indexOf('\x1f');
    if (claims.size >= MAX_WAITING_CLAIMS) claims.delete(claims.keys().next().value as string);
    claims.set(claim.slice(0, cut), claim.slice(cut + 1));
  }

  function send(script: LuaLibrary, jobId: string, finish: Deferred | undefined, bullArgs: unknown[]): Promise<unknown> {
    // The finish's arguments without the standard ones the script rebuilds (now, workerId,
    // control, cap), BullMQ's keys of this job, its arguments, then workerId, now and the
    // finish's count.
    // Made at its size, with the two slots runPrefixed fills: an array grown by push is
    // reallocated on the way, per step.
    const fargs = finish?.invocation.args;
    const na = fargs ? fargs.length - STANDARD_ARGS + 1 : 0;
    const settle = finish?.settle;
    const nsk = settle ? settle.scope.length : 0;
    const nsa = settle ? settle.args.length : 0;
    const adds = finish?.adds;
    const nadd = adds ? adds.length : 0;
    const all: unknown[] = new Array(2 + na + FINISHED_JOB_KEYS.length + (bullArgs.length - BULL_KEYS) + nsk + nsa + nadd + 6);
    let k = 2;
    if (fargs) {
      all[k++] = fargs[0];
      for (let i = STANDARD_ARGS; i < fargs.length; i++) all[k++] = fargs[i];
    }
    for (const slot of FINISHED_JOB_KEYS) all[k++] = bullArgs[slot];
    for (let i = BULL_KEYS; i < bullArgs.length; i++) all[k++] = bullArgs[i] ?? '';
    if (settle) {
      for (let i = 0; i < nsk; i++) all[k++] = settle.scope[i];
      for (let i = 0; i < nsa; i++) all[k++] = settle.args[i];
    }
    for (let i = 0; i < nadd; i++) all[k++] = (adds as ReadyAdds)[i];
    all[k++] = options.workerId;
    all[k++] = Date.now();
    all[k++] = na;
    all[k++] = nsk;
    all[k++] = nsa;
    all[k] = nadd / 4;
    // Chained rather than awaited: an async function costs a promise and a microtask per step.
    return libraries.runPrefixed(script, all as (string | number | Buffer)[], all.length - 5).then(
      (answer) => {
        const raw = answer as [unknown, unknown, string | null, unknown];
        if (finish?.settle && typeof raw[3] === 'string' && raw[3].startsWith('ERR:')) {
          // Neither ran in the script (it kept the finish back): both go alone, the settle first.
          log.warn({ jobId, err: raw[3].slice(4) }, 'settle with the job completion failed; it goes alone, then the finish');
          sendFinish(finish);
        } else if (finish) {
          // The settle's events before the finish's, as when it went first on its own.
          finish.settle?.done(raw[3]);
          if (typeof raw[0] === 'string' && raw[0].startsWith('ERR:')) finish.done(new Error(`finishAttempt in the fused completion: ${raw[0].slice(4)}`));
          else finish.done(undefined, raw[0]);
        }
        if (typeof raw[2] === 'string') takeAnswer(raw[2], raw[1]);
        // moveToFinished answers nil when there is no next job (Lua tables cannot hold nil).
        return raw[1] === null ? undefined : raw[1];
      },
      (e: unknown) => {
        if (finish && deferred.has(jobId)) {
          // A newer finish of the same job (redelivered meanwhile) waits for the retry: this one
          // goes alone now rather than replace it.
          sendFinish(finish);
        } else if (finish) {
          // BullMQ retries its completion after a connection error: the finish goes with the
          // retry, or alone if none comes (a second application is discarded as stale).
          deferred.set(jobId, finish);
          setTimeout(() => sendAlone(jobId, finish), RETRY_FALLBACK_MS).unref();
        }
        throw e;
      },
    );
  }

  /**
   * BullMQ's `original` command replaced: a call with a callback, or with queue keys other than
   * the composition's (never expected: one worker, one queue), goes BullMQ's own way.
   */
  function wrap(original: Command, which: string, scriptFor: (flat: readonly unknown[]) => LuaLibrary | undefined, fused: (script: LuaLibrary, flat: unknown[]) => Promise<unknown>): Command {
    return function (...callArgs: unknown[]) {
      const flat = callArgs.length === 1 && Array.isArray(callArgs[0]) ? (callArgs[0] as unknown[]) : callArgs;
      if (typeof flat[flat.length - 1] === 'function') return original.apply(redis, callArgs);
      const script = scriptFor(flat);
      if (!script) {
        // A finish deferred for this job goes alone at the end of this turn (sendUnsent).
        otherKeys(which);
        return original.apply(redis, callArgs);
      }
      return fused(script, flat);
    };
  }

  // A slot's first job, and a job that woke a waiting slot, come from moveToActive: claimed there too.
  const activeName = Object.keys(scripts).find((k) => k.startsWith('moveToActive:'));
  if (activeName && VERIFIED_MOVE_TO_ACTIVE.has(luaSha(scripts[activeName].lua))) {
    const activeScript = composer(options.keys.prefix, ACTIVE_CONSTANT_KEYS, (constants) => composeActive(scripts[activeName].lua, options, constants));
    redis[activeName] = wrap(redis[activeName] as Command, 'moveToActive', activeScript, async (active, flat) => {
      const all = pushBullArgv([undefined, undefined], flat, BULL_ACTIVE_KEYS);
      all.push(options.workerId, Date.now());
      const raw = (await libraries.runPrefixed(active, all as (string | number | Buffer)[], all.length - 1)) as [unknown, string | null];
      if (typeof raw[1] === 'string') takeAnswer(raw[1], raw[0]);
      return raw[0];
    });
  } else {
    log.info({ moveToActive: activeName ?? 'not registered' }, 'claims on moveToActive off: a slot\'s first job claims in a call of its own');
  }

  redis[name] = wrap(original, 'moveToFinished', finishedScript, (script, flat) => {
    const jobId = String(flat[BULL_KEYS]);
    const finish = deferred.get(jobId);
    deferred.delete(jobId);
    return send(script, jobId, finish, flat);
  });

  return {
    adding,
    defer(jobId, invocation, done, settle, adds) {
      // The same job redelivered here while a finish of it waits: the older one goes alone.
      const earlier = deferred.get(jobId);
      if (earlier) sendAlone(jobId, earlier);
      const finish: Deferred = { invocation, done, settle, adds: adding ? adds : undefined };
      deferred.set(jobId, finish);
      // BullMQ completes a job in the microtasks after its processor returns; one that it does
      // not complete (the worker is closing) still gets its finish, alone. One check per turn
      // of the event loop for all the finishes deferred in it.
      unsentCheck.push(jobId, finish);
      if (unsentCheck.length === 2) setImmediate(sendUnsent);
    },
    takeClaim(jobId) {
      const claim = claims.get(jobId);
      claims.delete(jobId);
      return claim;
    },
    libraries: () => libraries.names,
  };
}
