--[[
  Claims one attempt of a step for this worker: queued/retrying -> running.
  A `running` step with the same attempt is a redelivery after a stall and is taken over.
  KEYS as in includes/run-state.lua. ARGV[6] stepId, ARGV[7] attempt.
  Returns {code, {}, emitted, runStatus, extra}:
    1 started, extra "<runDeadline>|<groupDeadline>|<newGroup>"
    0 discard (extra says why), 2 run deadline passed, 3 group deadline passed (extra = group)
]]
--- @include "run-state"

local sid, attempt = ARGV[6], ARGV[7]
local rs = redis.call('HGET', K_RUN, 'status')
if not rs then return result(0, 'run_missing') end
if rs ~= 'queued' and rs ~= 'running' then return result(0, 'run_' .. rs) end
local deadline = tonumber(redis.call('HGET', K_RUN, 'deadline'))
if NOW >= deadline then return result(2, 'run') end
local st = sget('st', sid)
if sget('a', sid) ~= attempt then return result(0, 'stale_attempt') end
if st ~= 'queued' and st ~= 'retrying' and st ~= 'running' then return result(0, 'step_' .. tostring(st)) end

local _, _, group = static(sid)
local groupDeadline, newGroup = 0, ''
if group ~= '' then
  local dl = redis.call('HGET', K_GRP, 'dl|' .. group)
  if dl then
    groupDeadline = tonumber(dl)
    if NOW >= groupDeadline then return result(3, group) end
  else
    groupDeadline = NOW + tonumber(redis.call('HGET', K_GRP, 'to|' .. group))
    redis.call('HSET', K_GRP, 'start|' .. group, NOW, 'dl|' .. group, groupDeadline)
    newGroup = group
  end
end

if rs == 'queued' then
  redis.call('HSET', K_RUN, 'status', 'running', 'startedAt', NOW)
  emit('run.started', nil, nil, nil)
end
local fields = {'st|' .. sid, 'running', 'ts|' .. sid, NOW, 'w|' .. sid, WORKER}
if not sget('t0', sid) then fields[#fields + 1] = 't0|' .. sid; fields[#fields + 1] = NOW end
redis.call('HSET', K_STEPS, unpack(fields))
local data = nil
if st == 'running' then data = {restart = true} end
emit('step.started', sid, tonumber(attempt), data)
return result(1, deadline .. '|' .. groupDeadline .. '|' .. newGroup)
