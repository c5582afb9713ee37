--[[
  Gives an attempt back without counting it (graceful shutdown, service waits):
  running -> queued with the same attempt number, so any worker may take the job again.
  KEYS as in includes/run-core.lua. ARGV[6] stepId, ARGV[7] attempt, ARGV[8] why
  Returns {code, '', emitted, runStatus, ''}; code 0 when the attempt is no longer running.
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

local sid, attempt = ARGV[6], ARGV[7]
if runTerminal() then return result(0, 'run_over') end
if sget('st', sid) ~= 'running' or sget('a', sid) ~= attempt then return result(0, 'stale') end
redis.call('HSET', K_STEPS, 'st|' .. sid, 'queued')
emit('step.queued', sid, tonumber(attempt), {released = ARGV[8]})
return result(1)
