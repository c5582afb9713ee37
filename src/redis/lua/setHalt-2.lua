--[[
  Turns the kill switch on or off (SPEC §11) and tells every worker on the control channel.
  KEYS[1] halt hash  KEYS[2] global events stream
  ARGV[1] on|off  ARGV[2] scenario ('' = global)  ARGV[3] reason (on)  ARGV[4] '1' = abort running (on)
  ARGV[5] control channel  ARGV[6] global stream cap
  `off` without a scenario lifts every halt, global and per scenario.
  Returns {changed (0|1), events}.
]]
--- @include "guard-common"

local mode, scenario, reason, abort, channel, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5], ARGV[6]
local now = guardNow()
local field = '*'
if scenario ~= '' then field = 'scenario:' .. scenario end
local function emit(etype, data) guardEmit(KEYS[2], nil, cap, now, etype, {}, data) end

if mode == 'on' then
  local info = {reason = reason, at = now, abortRunning = abort}
  if scenario ~= '' then info.scenario = scenario end
  redis.call('HSET', KEYS[1], field, cjson.encode(info))
  emit('halt.on', info)
  redis.call('PUBLISH', channel, cjson.encode({type = 'halt', scenario = scenario, reason = reason}))
  return {1, GUARD_EVENTS}
end

local removed
if scenario == '' then
  removed = redis.call('HLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
else
  removed = redis.call('HDEL', KEYS[1], field)
end
if removed > 0 then
  local data = {}
  if scenario ~= '' then data.scenario = scenario end
  emit('halt.off', data)
  redis.call('PUBLISH', channel, cjson.encode({type = 'unhalt', scenario = scenario}))
end
return {math.min(removed, 1), GUARD_EVENTS}
