--[[
  Closes a service's circuit breaker by hand (`services reset NAME`).
  KEYS[1] breaker hash  KEYS[2] failures zset  KEYS[3] probes zset  KEYS[4] global events stream
  KEYS[5] service stats hash
  ARGV[1] service name  ARGV[2] global stream cap
  Returns {state before, events}.
]]
--- @include "guard-common"
--- @include "guard-breaker"

local now = guardNow()
local before = breakerState(KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3])
if before ~= 'closed' then
  breakerTransition(KEYS[1], now, before, 'closed', function(etype, data)
    guardEmit(KEYS[4], nil, ARGV[2], now, etype, {}, data)
  end, {service = ARGV[1], manual = true})
end
redis.call('HINCRBY', KEYS[5], 'resets', 1)
return {before, GUARD_EVENTS}
