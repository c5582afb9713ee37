--[[
  Ends a whole run early: cancel, halt, the run deadline, or recovery giving up on a run
  older than the max age (failed). Running steps are aborted on their workers (timed_out on
  a deadline, cancelled otherwise); the rest are cancelled.
  KEYS as in includes/run-core.lua. ARGV[6] status: cancelled|halted|timed_out|failed, ARGV[7] message
  Returns {code, '', emitted, runStatus, ''}; code 0 when the run was already over.
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

local status, message = ARGV[6], ARGV[7]
if not redis.call('HGET', K_RUN, 'status') or runTerminal() then return result(0, 'run_over') end
local runningStatus, kind, reason = 'cancelled', 'cancelled', status
if status == 'timed_out' then runningStatus, kind, reason = 'timed_out', 'timeout', 'run_timeout' end
if status == 'halted' then kind = 'halted' end
if status == 'failed' then reason = 'recovery' end
rare().sweep(split(redis.call('HGET', K_DAG, '_ids')), runningStatus, 'cancelled', reason, message, kind, false)
rare().publishAborts(reason, message)
rare().endRun(status, message)
return result(1)
