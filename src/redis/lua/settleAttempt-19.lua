--[[
  Ends an admitted attempt: gives its permits and probe slot back, replaces its budget
  reservations by the actual usage (committed in every scope, the run's cost fields, the
  step's and the service's spend), and feeds the outcome to the service's circuit breaker.
  KEYS[1]  global permits zset    KEYS[2]  service permits zset   KEYS[3]  service probes zset
  KEYS[4]  service breaker hash   KEYS[5]  service failures zset  KEYS[6]  service policy hash
  KEYS[7]  service stats hash     KEYS[8]  service spend hash     KEYS[9]  run budget hash
  KEYS[10] run reservations       KEYS[11] suite budget hash      KEYS[12] suite reservations
  KEYS[13] daily budget hash      KEYS[14] daily reservations     KEYS[15] guard policy hash
  KEYS[16] run hash               KEYS[17] run steps hash         KEYS[18] global events stream
  KEYS[19] run events stream
  ARGV[1] leaseId  ARGV[2] reservation member ('' = none)
  ARGV[3] outcome for the breaker: ok|transient|other|none  ARGV[4] '1' when the attempt was a probe
  ARGV[5] micro-USD  ARGV[6] USD (decimal)  ARGV[7] input tokens  ARGV[8] output tokens  ARGV[9] calls
  ARGV[10] runId  ARGV[11] stepId  ARGV[12] attempt  ARGV[13] workerId  ARGV[14] global stream cap
  ARGV[15] service name ('' = none)  ARGV[16] '1' when the run has a suite
  ARGV[17] what the admission held besides the service's permit (its answer after the '.':
           g r s d), or '*' (or absent) when not known: then every pool is given back
  Returns {breaker state after ('' without a breaker, or when the outcome could not move it), events}.
]]
--- @include "guard-common"
--- @include "guard-breaker"
--- @include "guard-budget"

local K_GPERMITS, K_SPERMITS, K_PROBES, K_BREAKER, K_FAILURES = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_SPOLICY, K_STATS, K_SPEND, K_POLICY, K_RUN, K_STEPS, K_GEV, K_REV =
  KEYS[6], KEYS[7], KEYS[8], KEYS[15], KEYS[16], KEYS[17], KEYS[18], KEYS[19]
local leaseId, member, outcome, wasProbe = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local usdMicro, usd, tokIn, tokOut, calls = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local who = {runId = ARGV[10], stepId = ARGV[11], attempt = ARGV[12], workerId = ARGV[13]}
local cap, service, hasSuite = ARGV[14], ARGV[15], ARGV[16] == '1'
local now = guardNow()

local function emit(etype, data)
  guardEmit(K_GEV, K_REV, cap, now, etype, who, data)
end

local held = ARGV[17] or '*'
local function holds(letter)
  return held == '*' or string.find(held, letter, 1, true) ~= nil
end
if holds('g') then redis.call('ZREM', K_GPERMITS, leaseId) end
if service ~= '' then redis.call('ZREM', K_SPERMITS, leaseId) end
if member ~= '' then
  if holds('r') then redis.call('ZREM', KEYS[10], member) end
  if hasSuite and holds('s') then redis.call('ZREM', KEYS[12], member) end
  if holds('d') then redis.call('ZREM', KEYS[14], member) end
end

-- Actual usage, committed everywhere it is reported, once: a settle sent again (its reply lost
-- with the connection, the fused completion's retry) finds its lease marked in the run's steps
-- hash and commits nothing twice. Without the run (gone with its retention) it is not marked.
local used = usdMicro > 0 or tokIn > 0 or tokOut > 0 or calls > 0
local runExists = used and redis.call('EXISTS', K_RUN) == 1
if runExists and redis.call('HSETNX', K_STEPS, 'u|' .. leaseId, '1') == 0 then used = false end
if used then
  local sid = who.stepId
  -- Only what was used: a field never written reads as 0 (src/engine/summary.ts,
  -- src/guardrails/status.ts), and most calls use one or two of the four.
  local usdUsed = tonumber(usd) > 0
  local function addUsage(key, pre)
    if usdUsed then redis.call('HINCRBYFLOAT', key, pre .. 'usd', usd) end
    if tokIn > 0 then redis.call('HINCRBY', key, pre .. 'tokens.input', tokIn) end
    if tokOut > 0 then redis.call('HINCRBY', key, pre .. 'tokens.output', tokOut) end
    if calls > 0 then redis.call('HINCRBY', key, pre .. 'calls', calls) end
  end
  if runExists then
    addUsage(K_RUN, 'cost:')
    addUsage(K_STEPS, 'cost|' .. sid .. '|')
  end
  if service ~= '' then addUsage(K_SPEND, '') end
  local actual = {usd = usdMicro, tokens = tokIn + tokOut, calls = calls}
  local scopes = {
    {name = 'run', budget = KEYS[9], limits = limitsIn(KEYS[9], 'limit:'), ttl = 0},
    {name = 'daily', budget = KEYS[13], limits = limitsIn(K_POLICY, 'daily.'), ttl = 3 * 86400000},
  }
  if hasSuite then
    scopes[#scopes + 1] = {name = 'suite', budget = KEYS[11], limits = limitsIn(KEYS[11], 'limit:'), ttl = 7 * 86400000}
  end
  for _, s in ipairs(scopes) do
    for _, r in ipairs(RESOURCES) do
      if actual[r] > 0 then redis.call('HINCRBY', s.budget, 'spent:' .. r, actual[r]) end
    end
    if s.ttl > 0 then
      redis.call('PEXPIRE', s.budget, s.ttl)
    elseif redis.call('PTTL', s.budget) < 0 then
      -- The run's budget lives as long as the run: its deadline, then its retention.
      local meta = redis.call('HMGET', K_RUN, 'deadline', 'retentionMs')
      local ttl = numberOr(meta[1], now) - now + numberOr(meta[2], 7 * 86400000)
      redis.call('PEXPIRE', s.budget, math.max(ttl, 60000))
    end
    -- A warn scope says so once, when committed spend passes its limit.
    if s.limits and s.limits.onExceed == 'warn' then
      local spent = spentIn(s.budget)
      for _, r in ipairs(RESOURCES) do
        local limit = s.limits[r]
        if limit and spent[r] > limit and redis.call('HSETNX', s.budget, 'warned:' .. r, now) == 1 then
          emit('budget.warning', {scope = s.name, resource = r, limit = natural(r, limit), spent = natural(r, spent[r])})
        end
      end
    end
  end
end

-- Circuit breaker: probes decide half-open; transient failures count while closed.
local state = ''
local cb = nil
-- Only a probe's outcome or a transient failure moves the breaker: an attempt that went well
-- (most) reads nothing of it.
if service ~= '' and (wasProbe or outcome == 'transient') then cb = breakerPolicy(K_SPOLICY) end
if cb then
  state = breakerState(K_BREAKER)
  if wasProbe then
    redis.call('ZREM', K_PROBES, leaseId)
    if state == 'half_open' and outcome ~= 'none' then
      if outcome == 'transient' then
        breakerTransition(K_BREAKER, now, 'half_open', 'open', emit, {service = service, probe = 'failed'})
        state = 'open'
      else
        breakerTransition(K_BREAKER, now, 'half_open', 'closed', emit, {service = service, probe = 'succeeded'})
        redis.call('DEL', K_FAILURES)
        state = 'closed'
      end
      redis.call('DEL', K_PROBES)
    end
  elseif state == 'closed' and outcome == 'transient' then
    redis.call('ZADD', K_FAILURES, now, leaseId)
    redis.call('ZREMRANGEBYSCORE', K_FAILURES, '-inf', now - cb.windowMs)
    redis.call('PEXPIRE', K_FAILURES, cb.windowMs)
    local failures = redis.call('ZCARD', K_FAILURES)
    if failures >= cb.threshold then
      breakerTransition(K_BREAKER, now, 'closed', 'open', emit, {service = service, failures = failures,
        windowMs = cb.windowMs})
      redis.call('DEL', K_FAILURES)
      state = 'open'
    end
  end
  if outcome == 'transient' then redis.call('HINCRBY', K_STATS, 'failures', 1) end
end
return {state, GUARD_EVENTS}
