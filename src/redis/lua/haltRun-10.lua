--[[
  Ends a run `halted` for the kill switch (SPEC §11). In mode `idle` only when none of its
  steps is running (in-flight attempts finish first); `skipStep` is the step whose job the
  caller holds, which counts as idle. In mode `abort` running steps are aborted at once.
  KEYS as in includes/run-core.lua. ARGV[6] message, ARGV[7] scenario ('' = any),
  ARGV[8] mode idle|abort, ARGV[9] step id the caller holds ('' = none)
  Returns {code, '', emitted, runStatus, extra}: 1 ended, 2 busy (a step is running),
  0 nothing to do (extra says why).
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

local message, scenario, mode, held = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if not redis.call('HGET', K_RUN, 'status') or runTerminal() then return result(0, 'run_over') end
if scenario ~= '' and redis.call('HGET', K_RUN, 'scenario') ~= scenario then return result(0, 'other_scenario') end
local ids = split(redis.call('HGET', K_DAG, '_ids'))
if mode == 'idle' then
  for _, sid in ipairs(ids) do
    if sid ~= held and sget('st', sid) == 'running' then return result(2, 'busy') end
  end
end
rare().sweep(ids, 'cancelled', 'cancelled', 'halted', message, 'halted', false)
rare().publishAborts('halted', message)
rare().endRun('halted', message)
return result(1)
