--[[
  A group's deadline passed: its running steps time out, its not-started steps are cancelled,
  dependents follow (SPEC §6). The run goes on (best-effort) or aborts (failFast).
  KEYS as in includes/run-core.lua. ARGV[6] group, ARGV[7] message
  Returns {code, toEnqueue, emitted, runStatus, ''}; code 0 when nothing was left to time out.
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

local group, message = ARGV[6], ARGV[7]
if not redis.call('HGET', K_RUN, 'status') or runTerminal() then return result(0, 'run_over') end
if redis.call('HGET', K_GRP, 'over|' .. group) == '1' then return result(0, 'group_over') end
redis.call('HSET', K_GRP, 'over|' .. group, '1')
local done = rare().sweep(split(redis.call('HGET', K_DAG, 'g|' .. group)), 'timed_out', 'cancelled',
  'group_timeout', message, 'timeout', false)
rare().publishAborts('group_timeout', message)
if #done > 0 then
  markFailed()
  for _, p in ipairs(rare().abortForFailFast()) do done[#done + 1] = p end
end
advance(done)
return result(1)
