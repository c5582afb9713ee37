--[[
  Shared state machine of one run (on top of includes/run-core.lua): terminal steps, readiness
  of dependents, maxParallel admission, failFast, the run's end and verdict.
]]
--- @include "run-core"

-- This call's run state (begin in run-core.lua): static entries read, counters, steps aborted.
local STATIC, RUN, TO_ABORT = nil, nil, nil
-- The run's deadline, when the caller knows the run never counts in-flight steps (it has no
-- more steps than its maxParallel: runCounters) and vouches that its step is running: then
-- nothing on the run hash needs reading for a succeeded finish (finishAttempt). A running
-- step's run is running, since every end of a run ends its running steps first (the sweeps
-- of endRun, haltRun, gateRun; a run ends by itself only once no step is open).
local UNCOUNTED = nil

local function beginRun(keys, argv)
  begin(keys, argv)
  STATIC, RUN, TO_ABORT, UNCOUNTED = {}, nil, {}, nil
end

local function sget(field, sid)
  return rcall('HGET', KS[2], field .. '|' .. sid)
end

local function split(csv)
  local out = {}
  if csv and csv ~= '' then
    for item in string.gmatch(csv, '[^,]+') do out[#out + 1] = item end
  end
  return out
end

-- Static facts of a step: has an `if`, continueOnError, group, dependents. Read once per
-- script: a step's static entry never changes after createRun. `entry` is the step's entry in
-- the dag hash when the caller has it ('' or nil: read it there).
local NO_STATIC = {false, false, '', {}}
local function static(sid, entry)
  local f = STATIC[sid]
  if not f then
    if not entry or entry == '' then entry = rcall('HGET', KS[3], sid) end
    -- No `if`, no continueOnError, no group, no dependents (entryGroup): nothing to parse.
    if entry == '00||' then
      STATIC[sid] = NO_STATIC
      return false, false, '', NO_STATIC[4]
    end
    -- "<hasIf><coe>|<group>|<deps>": two bytes '0'/'1' (49 = '1'), then the group (run-core).
    local hasIf, coe = string.byte(entry, 1, 2)
    local group, bar = entryGroup(entry)
    f = {hasIf == 49, coe == 49, group, split(string.sub(entry, bar + 1))}
    STATIC[sid] = f
  end
  return f[1], f[2], f[3], f[4]
end

local function runTerminal()
  local st = runStatus()
  return st ~= 'queued' and st ~= 'running'
end

-- The run's status, counters, maxParallel and deadline (CARRY), read once per script and kept current by the
-- writes here: HINCRBY answers the new count, so nothing is read twice (its amounts are strings:
-- formatting a Lua number costs more than the command).
-- `counted` says whether `inflight` is kept: only while more steps are open than maxParallel.
-- In-flight steps are open, and `open` only falls, so once open <= maxParallel the limit can
-- never bind again: a step to admit is open and not in flight, so inflight < maxParallel. The
-- script that brought open down to maxParallel counted and drained; nothing parks after it.
-- A run of no more steps than its maxParallel (the bench's, most CI runs) never counts: one
-- HINCRBY less per step admitted and per step ended.
-- `parking` says whether the wait list may hold steps: a step is parked only while inflight >=
-- maxParallel, and every script that lowers inflight drains (or ends the run), so the list is
-- empty when this script found inflight below maxParallel and parked nothing itself.
local function runCounters()
  if RUN == nil and UNCOUNTED then
    -- failed is read when the run ends (advance), open is HINCRBY's answer (finishStep).
    RUN = {inflight = 0, maxParallel = 0, failed = nil, parking = false, open = nil, counted = false, deadline = UNCOUNTED}
  elseif RUN == nil then
    local r = rcall('HMGET', KS[1], 'status', 'inflight', 'failed', 'maxParallel', 'deadline', 'open')
    if STATUS == nil then STATUS = r[1] or false end
    local inflight, maxParallel, open = tonumber(r[2] or '0'), tonumber(r[4] or '0'), tonumber(r[6] or '0')
    local counted = open > maxParallel
    RUN = {inflight = inflight, maxParallel = maxParallel, failed = r[3] == '1', parking = counted and inflight >= maxParallel,
      open = open, counted = counted, deadline = r[5]}
  end
  return RUN
end

-- The run fails its verdict once its open steps end.
local function markFailed()
  local run = runCounters()
  if not run.failed then
    rcall('HSET', KS[1], 'failed', '1')
    run.failed = true
  end
end

-- Moves a step to a terminal status and returns whether it blocks its dependents. `prev`, the
-- step's status, is read here unless the caller has it.
local function finishStep(sid, st, reason, continued, attempt, data, prev)
  if prev == nil then prev = rcall('HGET', KS[2], 'st|' .. sid) end
  local run = runCounters()
  if run.counted and (prev == 'queued' or prev == 'running' or prev == 'retrying') then
    run.inflight = rcall('HINCRBY', KS[1], 'inflight', '-1')
  end
  run.open = rcall('HINCRBY', KS[1], 'open', '-1')
  local ev = data
  -- AV[2]: now.
  if (reason and reason ~= '') or continued then
    local fields = {'st|' .. sid, st, 't1|' .. sid, AV[2]}
    if reason and reason ~= '' then
      fields[#fields + 1] = 'r|' .. sid; fields[#fields + 1] = reason
      ev = ev or {}; ev['reason'] = reason
    end
    if continued then
      fields[#fields + 1] = 'c|' .. sid; fields[#fields + 1] = '1'
      ev = ev or {}; ev['continued'] = true
    end
    rcall('HSET', KS[2], unpack(fields))
  else
    rcall('HSET', KS[2], 'st|' .. sid, st, 't1|' .. sid, AV[2])
  end
  emit('step.' .. st, sid, attempt, ev)
  if (st == 'failed' or st == 'timed_out') and not continued then markFailed() end
  -- A terminal need blocks dependents that have no `if` (SPEC §5); a skip by condition does not.
  if continued then return false end
  if st == 'skipped' then return reason ~= 'condition_false' end
  return st == 'failed' or st == 'timed_out' or st == 'cancelled'
end

-- Marks a ready step queued (within maxParallel) or parks it on the wait list.
local function admit(sid)
  local run = runCounters()
  if run.counted then
    if run.inflight >= run.maxParallel then
      rcall('RPUSH', KS[8], sid)
      run.parking = true
      return
    end
    run.inflight = rcall('HINCRBY', KS[1], 'inflight', '1')
  end
  rcall('HSET', KS[2], 'st|' .. sid, 'queued', 'a|' .. sid, '1')
  emit('step.queued', sid, '1', nil)
  TO_ENQUEUE[#TO_ENQUEUE + 1] = sid .. '|1|0'
end

-- The run's end and the sweeps of failFast, halts, gates and group timeouts, made on first use:
-- a step's finish rarely needs them, and a script makes every local function anew on each call
-- (a Function library keeps them: they read this call's state, TO_ABORT included, from above).
local RARE = nil
local function rare()
  if RARE then return RARE end

  local function isTerminal(st)
    return st == 'succeeded' or st == 'failed' or st == 'timed_out' or st == 'skipped'
      or st == 'cancelled' or st == 'reused'
  end

  -- Ends the run with `status`, if it is not over yet.
  local function endRun(status, reason)
    if runTerminal() then return end
    local fields = {'status', status, 'finishedAt', AV[2]}
    if reason and reason ~= '' then fields[#fields + 1] = 'reason'; fields[#fields + 1] = reason end
    rcall('HSET', KS[1], unpack(fields))
    STATUS = status
    rcall('ZREM', KS[10], AV[1])
    -- A finished run is kept for its retention, then Redis forgets it: every key of the run
    -- (not the global stream, KS[7], nor the active runs, KS[10]).
    local retention = tonumber(rcall('HGET', KS[1], 'retentionMs') or '0')
    if retention and retention > 0 then
      for _, i in ipairs({1, 2, 3, 4, 5, 6, 8, 9}) do
        rcall('PEXPIRE', KS[i], retention)
      end
    end
    local data = nil
    if reason and reason ~= '' then data = {reason = reason} end
    emit('run.' .. status, nil, nil, data)
  end

  -- Terminates every open step of `ids`: running ones get `runningStatus` and are aborted on
  -- their worker; the others `restStatus`. Returns the {sid, blocking} pairs for propagate.
  local function sweep(ids, runningStatus, restStatus, reason, message, kind, onlyStarted)
    local done = {}
    for _, sid in ipairs(ids) do
      local st = sget('st', sid)
      if not isTerminal(st) and not (onlyStarted and st == 'pending') then
        local attempt = sget('a', sid)
        if st == 'running' then
          local rec = {attempt = tonumber(attempt), kind = kind, message = message,
            startedAt = tonumber(sget('ts', sid)), finishedAt = tonumber(AV[2]), workerId = sget('w', sid) or ''}
          rcall('HSET', KS[5], sid .. '|' .. attempt, cjson.encode(rec))
          TO_ABORT[#TO_ABORT + 1] = sid
          done[#done + 1] = {sid, finishStep(sid, runningStatus, reason, false, tonumber(attempt), {message = message})}
        else
          local att = nil
          if st ~= 'pending' then att = tonumber(attempt) end
          done[#done + 1] = {sid, finishStep(sid, restStatus, reason, false, att, nil)}
        end
      end
    end
    return done
  end

  local function publishAborts(reason, message)
    if #TO_ABORT > 0 then
      rcall('PUBLISH', AV[4], cjson.encode({type = 'abort', runId = AV[1], steps = TO_ABORT,
        reason = reason, message = message}))
    end
  end

  -- First failure of a failFast run: abort running steps, skip the parked ones without `if`;
  -- steps with an explicit `if` still decide once their needs end (SPEC §2 teardown).
  local function abortForFailFast()
    if rcall('HGET', KS[1], 'failFast') ~= '1' then return {} end
    if rcall('HGET', KS[1], 'aborting') == '1' then return {} end
    rcall('HSET', KS[1], 'aborting', '1')
    local message = 'another step failed and the run is failFast'
    local ids = split(rcall('HGET', KS[3], '_ids'))
    local done = sweep(ids, 'cancelled', 'cancelled', 'fail_fast', message, 'cancelled', true)
    for _, sid in ipairs(ids) do
      if sget('st', sid) == 'pending' and (sget('n', sid) or '0') == '0' and not static(sid) then
        done[#done + 1] = {sid, finishStep(sid, 'skipped', 'fail_fast', false, nil, nil)}
      end
    end
    publishAborts('fail_fast', message)
    return done
  end

  RARE = {isTerminal = isTerminal, endRun = endRun, sweep = sweep, publishAborts = publishAborts,
    abortForFailFast = abortForFailFast}
  return RARE
end

-- Advances the run after steps ended (`pending` holds their {sid, blocking} pairs): follows them
-- through the DAG (counts down needs, skips blocked dependents, admits the ones that became
-- ready), admits parked steps while maxParallel allows, and ends the run once no step is open,
-- failed if any step failed for the verdict. One function, not three: each is made anew on
-- every call, with its captures.
local function advance(pending)
  local aborting = nil
  local i = 1
  while i <= #pending do
    local sid, blocking = pending[i][1], pending[i][2]
    i = i + 1
    local _, _, _, deps = static(sid)
    for _, d in ipairs(deps) do
      if blocking then rcall('HSET', KS[2], 'b|' .. d, '1') end
      local left = rcall('HINCRBY', KS[2], 'n|' .. d, '-1')
      if left == 0 and sget('st', d) == 'pending' then
        local hasIf = static(d)
        if not hasIf and aborting == nil then aborting = rcall('HGET', KS[1], 'aborting') == '1' end
        if hasIf then
          admit(d)
        elseif aborting then
          pending[#pending + 1] = {d, finishStep(d, 'skipped', 'fail_fast', false, nil, nil)}
        elseif sget('b', d) == '1' then
          pending[#pending + 1] = {d, finishStep(d, 'skipped', 'upstream_failed', false, nil, nil)}
        else
          admit(d)
        end
      end
    end
  end
  local run = runCounters()
  if run.parking then
    while run.inflight < run.maxParallel do
      local sid = rcall('LPOP', KS[8])
      if not sid then break end
      if sget('st', sid) == 'pending' then admit(sid) end
    end
  end
  if runTerminal() then return end
  if run.open > 0 then return end
  if run.failed == nil then run.failed = rcall('HGET', KS[1], 'failed') == '1' end
  if run.failed then rare().endRun('failed', nil) else rare().endRun('succeeded', nil) end
end
