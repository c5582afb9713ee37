--[[
  Skips a queued step whose `if` was false (or whose credentials are missing) and advances the run.
  KEYS as in includes/run-core.lua. ARGV[6] stepId, ARGV[7] attempt, ARGV[8] reason, ARGV[9] data JSON
  Returns {code, toEnqueue, emitted, runStatus, ''}; code 0 = discarded (not queued any more).
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

local sid = ARGV[6]
if runTerminal() then return result(0, 'run_over') end
local st = sget('st', sid)
if (st ~= 'queued' and st ~= 'retrying' and st ~= 'running') or sget('a', sid) ~= ARGV[7] then
  return result(0, 'stale')
end
local data = nil
if ARGV[9] ~= '' then data = cjson.decode(ARGV[9]) end
local blocking = finishStep(sid, 'skipped', ARGV[8], false, nil, data)
advance({{sid, blocking}})
return result(1)
