--[[
  Applies credential gates decided at enqueue (SPEC §10): mode `run` skips the whole run
  (status skipped); mode `steps` skips or fails the listed steps and advances the run.
  KEYS as in includes/run-core.lua. ARGV[6] mode run|steps, ARGV[7] message,
  ARGV[8] JSON [{id, action: skip|fail, message, missing: [names]}] (mode steps)
  Returns {code, toEnqueue, emitted, runStatus, ''}; code 0 when the run is over.
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

local mode, message = ARGV[6], ARGV[7]
if not redis.call('HGET', K_RUN, 'status') or runTerminal() then return result(0, 'run_over') end
if mode == 'run' then
  rare().sweep(split(redis.call('HGET', K_DAG, '_ids')), 'cancelled', 'skipped', 'credentials_missing', message,
    'credentials_missing', false)
  rare().publishAborts('cancelled', message)
  rare().endRun('skipped', message)
  return result(1)
end

local pending = {}
for _, gate in ipairs(cjson.decode(ARGV[8])) do
  local sid = gate.id
  local st = sget('st', sid)
  if st and not rare().isTerminal(st) and st ~= 'running' then
    local attempt = sget('a', sid) or '1'
    if gate.action == 'fail' then
      local rec = {attempt = tonumber(attempt), status = 'failed', kind = 'credentials_missing',
        message = gate.message, workerId = '', startedAt = NOW, finishedAt = NOW}
      redis.call('HSET', K_ATT, sid .. '|' .. attempt, cjson.encode(rec))
      local blocking = finishStep(sid, 'failed', '', false, tonumber(attempt),
        {kind = 'credentials_missing', message = gate.message})
      pending[#pending + 1] = {sid, blocking}
      if blocking then
        for _, p in ipairs(rare().abortForFailFast()) do pending[#pending + 1] = p end
      end
    else
      pending[#pending + 1] = {sid, finishStep(sid, 'skipped', 'credentials_missing', false, nil,
        {missing = gate.missing, message = gate.message})}
    end
  end
end
advance(pending)
return result(1)
