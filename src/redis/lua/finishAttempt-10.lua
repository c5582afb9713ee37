--[[
  Records the end of an attempt and advances the run: retry, or terminal status, then
  readiness of dependents, maxParallel admission, failFast and the run verdict.
  A result for a step that is no longer running this attempt is discarded (late result).
  KEYS as in includes/run-core.lua.
  ARGV[6] stepId, ARGV[7] attempt, ARGV[8] outcome: succeeded|failed|timed_out|cancelled|retry
  ARGV[9] output JSON ('' when none), ARGV[10] attempt record JSON, '' for a succeeded attempt:
  its record is the step's a|, w|, ts| and t1| (readRun in src/engine/summary.ts makes it),
  ARGV[11] retry delay ms, ARGV[12] error kind ('' on success), ARGV[13] error message,
  ARGV[14] the step's static entry as in the dag hash, or '' to read it there (a worker has it
  from the compiled scenario; it never changes after createRun)
  ARGV[15] (optional) the run's deadline as stored, from a worker that knows the run has no more
  steps than its maxParallel: a succeeded finish then reads nothing of the run hash (UNCOUNTED
  in includes/run-state.lua)
  Returns {code, toEnqueue, emitted, runStatus, ''} (result() in includes/run-core.lua); code 0 = discarded.
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

local sid, attempt, outcome = ARGV[6], ARGV[7], ARGV[8]
if outcome == 'succeeded' and ARGV[15] and ARGV[15] ~= '' then UNCOUNTED = ARGV[15] end
runCounters()
if not UNCOUNTED and runTerminal() then return result(0, 'run_over') end
local current = rcall('HMGET', K_STEPS, 'st|' .. sid, 'a|' .. sid)
if current[1] ~= 'running' or current[2] ~= attempt then return result(0, 'stale') end
if UNCOUNTED then STATUS = 'running' end
if ARGV[10] ~= '' then rcall('HSET', K_ATT, sid .. '|' .. attempt, ARGV[10]) end

if outcome == 'retry' then
  local nextAttempt = tonumber(attempt) + 1
  rcall('HSET', K_STEPS, 'st|' .. sid, 'retrying', 'a|' .. sid, nextAttempt)
  emit('step.retrying', sid, attempt, {kind = ARGV[12], message = ARGV[13], delayMs = tonumber(ARGV[11])})
  TO_ENQUEUE[#TO_ENQUEUE + 1] = sid .. '|' .. nextAttempt .. '|' .. ARGV[11]
  return result(1)
end

if outcome == 'succeeded' and ARGV[9] ~= '' then rcall('HSET', K_OUT, sid, ARGV[9]) end
local _, coe = static(sid, ARGV[14])
local continued = coe and outcome ~= 'succeeded' and outcome ~= 'cancelled'
local data = nil
if ARGV[12] ~= '' then data = {kind = ARGV[12], message = ARGV[13]} end
local blocking = finishStep(sid, outcome, '', continued, attempt, data, 'running')
local pending = {{sid, blocking}}
if blocking and (outcome == 'failed' or outcome == 'timed_out') then
  for _, p in ipairs(rare().abortForFailFast()) do pending[#pending + 1] = p end
end
advance(pending)
return result(1)
