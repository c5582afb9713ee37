--[[
  Circuit breaker of one service, shared by every worker (SPEC §8).
  Breaker hash: state closed|open|half_open, openedAt, since, transitions:<state> counters.
  Failures zset: one member per transient failure (score = time) while closed.
  Probes zset: half-open probes in flight (score = lease expiry).
  Policy hash fields: cb.failureThreshold cb.windowMs cb.resetTimeoutMs cb.halfOpenMaxCalls cb.whenOpen
]]
--- @include "guard-common"

-- The policy fields breakerOf reads, in its order; a script reading more of the policy hash
-- asks for these first, in the same HMGET.
local BREAKER_FIELDS = {'cb.failureThreshold', 'cb.windowMs', 'cb.resetTimeoutMs', 'cb.halfOpenMaxCalls', 'cb.whenOpen'}

-- The breaker policy from an HMGET of BREAKER_FIELDS (v[1..5]); nil when the service has none.
local function breakerOf(v)
  if not v[1] then return nil end
  return {threshold = tonumber(v[1]), windowMs = tonumber(v[2]), resetMs = tonumber(v[3]),
    probes = tonumber(v[4]), whenOpen = v[5] or 'wait'}
end

local function breakerPolicy(policyKey)
  return breakerOf(redis.call('HMGET', policyKey, unpack(BREAKER_FIELDS)))
end

local function breakerState(breakerKey)
  return redis.call('HGET', breakerKey, 'state') or 'closed'
end

-- Moves the breaker to `to` and writes the transition event; exactly one caller can see
-- `from` because scripts run one at a time.
local function breakerTransition(breakerKey, now, from, to, emitFn, data)
  local fields = {'state', to, 'since', now}
  if to == 'open' then fields[#fields + 1] = 'openedAt'; fields[#fields + 1] = now end
  redis.call('HSET', breakerKey, unpack(fields))
  redis.call('HINCRBY', breakerKey, 'transitions:' .. to, 1)
  local ev = data or {}
  ev.from = from
  ev.to = to
  local etype = 'circuit.opened'
  if to == 'half_open' then etype = 'circuit.half_open' elseif to == 'closed' then etype = 'circuit.closed' end
  emitFn(etype, ev)
end
