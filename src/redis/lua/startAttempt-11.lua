--[[
  Claims one attempt of a step for this worker: queued/retrying -> running.
  A `running` step with the same attempt is a redelivery after a stall and is taken over.
  KEYS[1..10] as in includes/run-core.lua; KEYS[11] the kill-switch hash (guardrails).
  ARGV[6] stepId, ARGV[7] attempt, ARGV[8] '1' to check the kill switch here, ARGV[9] scenario
  ('' = the run's), ARGV[10] (optional) the step's static entry in the dag hash, when the caller
  read it already (src/worker/fused-completion.ts).
  The guard leaves the kill switch to this script for attempts that hold nothing (no service,
  nothing reserved): it is all admitAttempt would check for them, and here it is atomic with
  the claim, one round trip less per step.
  Returns {code, '', emitted, runStatus, extra}:
    1 started, extra "<runDeadline>|<groupDeadline>|<newGroup>"
    0 discard (extra says why), 2 run deadline passed, 3 group deadline passed (extra = group)
    4 halted, extra = the halt JSON {reason, at, scope}; nothing changed
]]
--- @include "run-core"
begin(KEYS, ARGV)

local sid, attempt = ARGV[6], ARGV[7]
local rs, runDeadline
if CARRY and CARRY[1] == K_RUN then
  rs, runDeadline = CARRY[2], CARRY[3]
else
  local run = rcall('HMGET', K_RUN, 'status', 'deadline')
  rs, runDeadline = run[1], run[2]
end
CARRY = nil
STATUS = rs
if not rs then return result(0, 'run_missing') end
if rs ~= 'queued' and rs ~= 'running' then return result(0, 'run_' .. rs) end
-- The kill switch's hash exists only while a halt is on: the common case costs one EXISTS.
if ARGV[8] == '1' and rcall('EXISTS', KEYS[11]) == 1 then
  local scenario = ARGV[9]
  if scenario == '' then scenario = rcall('HGET', K_RUN, 'scenario') or '' end
  local halt = rcall('HMGET', KEYS[11], '*', 'scenario:' .. scenario)
  if halt[1] or halt[2] then return result(4, halt[1] or halt[2]) end
end
local deadline = deadlineOf(runDeadline)
if NOW >= deadline then return result(2, 'run') end
local step = rcall('HMGET', K_STEPS, 'st|' .. sid, 'a|' .. sid, 'ts|' .. sid, 't0|' .. sid)
local st = step[1]
if step[2] ~= attempt then return result(0, 'stale_attempt') end
if st ~= 'queued' and st ~= 'retrying' and st ~= 'running' then return result(0, 'step_' .. tostring(st)) end

local group = entryGroup(ARGV[10] or rcall('HGET', K_DAG, sid))
-- The deadline goes back as the string it is stored as (formatting a Lua number costs a printf).
local groupDeadline, newGroup = '0', ''
if group ~= '' then
  local dl = rcall('HGET', K_GRP, 'dl|' .. group)
  if dl then
    if NOW >= tonumber(dl) then return result(3, group) end
    groupDeadline = dl
  else
    groupDeadline = NOW + tonumber(rcall('HGET', K_GRP, 'to|' .. group))
    rcall('HSET', K_GRP, 'start|' .. group, NOW_S, 'dl|' .. group, groupDeadline)
    newGroup = group
  end
end

if rs == 'queued' then
  rcall('HSET', K_RUN, 'status', 'running', 'startedAt', NOW_S)
  STATUS = 'running'
  emit('run.started', nil, nil, nil)
end
-- When the step first started (t0) is the first claim's ts, written as t0 only once a later
-- claim (a retry, a takeover) replaces ts: most steps start once, and a field less per step is
-- a shorter scan of a small run's steps hash. Readers take t0, else ts (src/engine/summary.ts).
if step[3] and not step[4] then
  rcall('HSET', K_STEPS, 'st|' .. sid, 'running', 'ts|' .. sid, NOW_S, 'w|' .. sid, WORKER, 't0|' .. sid, step[3])
else
  rcall('HSET', K_STEPS, 'st|' .. sid, 'running', 'ts|' .. sid, NOW_S, 'w|' .. sid, WORKER)
end
local data = nil
if st == 'running' then data = {restart = true} end
emit('step.started', sid, attempt, data)
return result(1, runDeadline .. '|' .. groupDeadline .. '|' .. newGroup)
