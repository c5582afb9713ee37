--[[
  Admits one attempt past every guardrail at once: kill switch, circuit breaker, concurrency
  permits (the service's and all services' together), rate window, and a budget reservation
  in every scope. Nothing is taken unless everything admits the attempt, so a refusal never
  leaks a permit, a rate slot or a reservation.
  KEYS[1]  halt hash              KEYS[2]  guard policy hash      KEYS[3]  global permits zset
  KEYS[4]  service policy hash    KEYS[5]  service permits zset   KEYS[6]  service rate zset
  KEYS[7]  service breaker hash   KEYS[8]  service probes zset    KEYS[9]  service stats hash
  KEYS[10] run budget hash        KEYS[11] run reservations       KEYS[12] suite budget hash
  KEYS[13] suite reservations     KEYS[14] daily budget hash      KEYS[15] daily reservations
  KEYS[16] global events stream   KEYS[17] run events stream
  ARGV[1] leaseId  ARGV[2] leaseMs  ARGV[3] scenario  ARGV[4] service name ('' = none)
  ARGV[5] '1' when the attempt calls its service live (not mocked)
  ARGV[6] estimate micro-USD  ARGV[7] estimate tokens  ARGV[8] estimate calls
  ARGV[9] runId  ARGV[10] stepId  ARGV[11] attempt  ARGV[12] workerId
  ARGV[13] global stream cap  ARGV[14] control channel  ARGV[15] '1' when the run has a suite
  Returns {code, a, b, events}; events = JSON of every event written:
    1 admitted  a = '1' for a half-open probe, else '0', then '.' and what it holds besides the
                service's permit (g r s d, see below); b = warnings "scope:resource,…"
    2 wait      a = delay ms; b = reason (circuit_open|half_open_busy|concurrency|max_concurrent_calls|rate_limited|budget_settling)
    3 fail      a = error kind (circuit_open|budget_exceeded); b = message
    4 halted    a = halt JSON {reason, at, scope}
]]
--- @include "guard-common"
--- @include "guard-breaker"
--- @include "guard-budget"

local K_HALT, K_POLICY, K_GPERMITS = KEYS[1], KEYS[2], KEYS[3]
local K_SPOLICY, K_SPERMITS, K_RATE, K_BREAKER, K_PROBES, K_STATS = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local K_GEV, K_REV = KEYS[16], KEYS[17]
local leaseId, leaseMs, scenario, service = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local live = ARGV[5] == '1'
local est = {usd = tonumber(ARGV[6]), tokens = tonumber(ARGV[7]), calls = tonumber(ARGV[8])}
local who = {runId = ARGV[9], stepId = ARGV[10], attempt = ARGV[11], workerId = ARGV[12]}
local cap, channel = ARGV[13], ARGV[14]
local now = guardNow()
local expiry = now + leaseMs

local function emit(etype, data)
  guardEmit(K_GEV, K_REV, cap, now, etype, who, data)
end

local function done(code, a, b)
  return {code, tostring(a or ''), tostring(b or ''), GUARD_EVENTS}
end

-- Kill switch: global or for this scenario. Its hash exists only while a halt is on.
if redis.call('EXISTS', K_HALT) == 1 then
  local h = redis.call('HMGET', K_HALT, '*', 'scenario:' .. scenario)
  local halt = h[1] or h[2]
  if halt then return done(4, halt) end
end

local useService = live and service ~= ''
local estimating = live and (est.usd > 0 or est.tokens > 0 or est.calls > 0)
local probe = false
-- Each policy hash read once: the service's (breaker, concurrency, rate), and the global one
-- (all services' concurrency, the daily budget).
local gpolicy = nil
if useService or estimating then
  gpolicy = redis.call('HMGET', K_POLICY, 'maxConcurrentCalls', 'daily.usd', 'daily.tokens', 'daily.calls', 'daily.onExceed')
end
local perMs, window = nil, nil

if useService then
  local sp = redis.call('HMGET', K_SPOLICY, BREAKER_FIELDS[1], BREAKER_FIELDS[2], BREAKER_FIELDS[3], BREAKER_FIELDS[4],
    BREAKER_FIELDS[5], 'maxConcurrency', 'rate.max', 'rate.perMs')
  -- Circuit breaker.
  local cb = breakerOf(sp)
  if cb then
    local state = breakerState(K_BREAKER)
    if state == 'open' then
      local openedAt = numberOr(redis.call('HGET', K_BREAKER, 'openedAt'), 0)
      if now >= openedAt + cb.resetMs then
        breakerTransition(K_BREAKER, now, 'open', 'half_open', emit, {service = service})
        redis.call('DEL', K_PROBES)
        state = 'half_open'
      else
        redis.call('HINCRBY', K_STATS, 'circuit_rejected', 1)
        if cb.whenOpen == 'fail' then
          return done(3, 'circuit_open', 'circuit of service "' .. service .. '" is open (' ..
            cb.threshold .. ' transient failures within ' .. cb.windowMs .. 'ms); it half-opens in ' ..
            (openedAt + cb.resetMs - now) .. 'ms')
        end
        return done(2, openedAt + cb.resetMs - now, 'circuit_open')
      end
    end
    if state == 'half_open' then
      redis.call('ZREMRANGEBYSCORE', K_PROBES, '-inf', now)
      if redis.call('ZCARD', K_PROBES) >= cb.probes then
        redis.call('HINCRBY', K_STATS, 'circuit_rejected', 1)
        if cb.whenOpen == 'fail' then
          return done(3, 'circuit_open', 'circuit of service "' .. service .. '" is half-open and its ' ..
            cb.probes .. ' probe call(s) are in flight')
        end
        return done(2, 250, 'half_open_busy')
      end
      probe = true
    end
  end

  -- Concurrency permits: leases that lapse unless renewed; the service's, then all services'.
  -- Counted live (expiry past now) where they are: the lapsed ones (a dead worker's) are
  -- removed on every 16th admission of the service (below), a settled attempt's at its settle.
  local liveFrom = '(' .. now
  local function permitsFull(permitsKey, limit)
    return limit and redis.call('ZCOUNT', permitsKey, liveFrom, '+inf') >= limit
  end
  local full = nil
  if permitsFull(K_SPERMITS, tonumber(sp[6])) then
    full = 'concurrency'
  elseif permitsFull(K_GPERMITS, tonumber(gpolicy[1])) then
    full = 'max_concurrent_calls'
  end
  if full then
    redis.call('HINCRBY', K_STATS, 'concurrency_waits', 1)
    return done(2, 200, full)
  end

  -- Rate window: an exact sliding log of admissions. The window is perMs plus a small skew
  -- margin, because what users count is when calls start downstream, and that lags the
  -- admission by a few ms that differ between workers.
  -- Admissions older than the window are counted out, and removed with the lapsed permits.
  local rateMax = tonumber(sp[7])
  perMs = tonumber(sp[8])
  if rateMax and perMs then
    window = perMs + math.min(50, math.floor(perMs / 20))
    local inWindow = '(' .. (now - window)
    if redis.call('ZCOUNT', K_RATE, inWindow, '+inf') >= rateMax then
      local oldest = redis.call('ZRANGEBYSCORE', K_RATE, inWindow, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      redis.call('HINCRBY', K_STATS, 'rate_limited', 1)
      return done(2, math.max(1, tonumber(oldest[2]) + window - now + 1), 'rate_limited')
    end
  end
end

-- Budgets: judge every scope before reserving in any. Lapsed reservations (a dead worker's) are
-- never counted, and removed on about one admission in 16.
local trim = now % 16 == 0
local scopes = {}
local function addScope(name, budgetKey, resKey, limits, spent)
  if limits then scopes[#scopes + 1] = {name = name, budget = budgetKey, res = resKey, limits = limits, spent = spent} end
end
if estimating then
  addScope('run', KEYS[10], KEYS[11], budgetIn(KEYS[10]))
  if ARGV[15] == '1' then addScope('suite', KEYS[12], KEYS[13], budgetIn(KEYS[12])) end
  addScope('daily', KEYS[14], KEYS[15], limitsOf(gpolicy, 2))
end

local warnings = {}
for _, s in ipairs(scopes) do
  local spent = s.spent or spentIn(s.budget)
  local reserved, counts = liveReservations(s.res, now, trim)
  local verdict, r = judgeScope(s.limits, spent, reserved, counts, est)
  if verdict == 'refuse' then
    local data = {scope = s.name, resource = r, limit = natural(r, s.limits[r]), spent = natural(r, spent[r]),
      reserved = natural(r, reserved[r]), estimate = natural(r, est[r]), action = s.limits.onExceed}
    redis.call('HINCRBY', s.budget, 'exceeded:' .. r, 1)
    emit('budget.exceeded', data)
    local message = s.name .. ' budget exceeded: ' .. r .. ' limit ' .. data.limit .. ', spent ' .. data.spent ..
      ', this attempt needs ' .. data.estimate
    if s.limits.onExceed == 'halt' then
      local info = cjson.encode({reason = message, at = now, scope = '*', auto = true})
      redis.call('HSET', K_HALT, '*', info)
      emit('halt.on', {reason = message, auto = true})
      redis.call('PUBLISH', channel, cjson.encode({type = 'halt', reason = message}))
      return done(4, info)
    end
    return done(3, 'budget_exceeded', message)
  elseif verdict == 'wait' then
    return done(2, 200, 'budget_settling')
  elseif verdict == 'over' then
    warnings[#warnings + 1] = s.name .. ':' .. r
    redis.call('HINCRBY', s.budget, 'warnings:' .. r, 1)
    if redis.call('HSETNX', s.budget, 'warned:' .. r, now) == 1 then
      emit('budget.warning', {scope = s.name, resource = r, limit = natural(r, s.limits[r]),
        spent = natural(r, spent[r]), reserved = natural(r, reserved[r]), estimate = natural(r, est[r])})
    end
  end
end

-- Admitted: take everything. `held` says what, for the settle: 'g' a permit of all services
-- together (taken only while maxConcurrentCalls is set), 'r', 's', 'd' a reservation in the
-- run, suite, daily scope.
local held = ''
if useService then
  redis.call('ZADD', K_SPERMITS, expiry, leaseId)
  if gpolicy[1] then
    redis.call('ZADD', K_GPERMITS, expiry, leaseId)
    held = 'g'
  end
  if perMs then
    redis.call('ZADD', K_RATE, now, leaseId)
    redis.call('PEXPIRE', K_RATE, perMs * 2)
  end
  if probe then redis.call('ZADD', K_PROBES, expiry, leaseId) end
  if redis.call('HINCRBY', K_STATS, 'admitted', 1) % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', K_SPERMITS, '-inf', now)
    redis.call('ZREMRANGEBYSCORE', K_GPERMITS, '-inf', now)
    if window then redis.call('ZREMRANGEBYSCORE', K_RATE, '-inf', now - window) end
  end
end
local member = leaseId .. '|' .. est.usd .. '|' .. est.tokens .. '|' .. est.calls
for _, s in ipairs(scopes) do
  redis.call('ZADD', s.res, expiry, member)
  held = held .. string.sub(s.name, 1, 1)
end
local flag = '0.'
if probe then flag = '1.' end
return done(1, flag .. held, table.concat(warnings, ','))
