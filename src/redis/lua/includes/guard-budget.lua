--[[
  Budgets (SPEC §9). A scope is a hash (limit:<r>, limit:onExceed, spent:<r>, warned:<r>,
  exceeded:<r>) and a zset of live reservations: member "<leaseId>|<usdMicro>|<tokens>|<calls>",
  score = lease expiry, so a dead worker's reservations lapse by themselves.
  USD is counted in integer micro-USD so sums never drift.
]]
--- @include "guard-common"

local RESOURCES = {'usd', 'tokens', 'calls'}

-- Sums the live reservations of a scope per resource (and how many are nonzero). Lapsed ones
-- (a dead worker's) are not read; `trim` removes them too (admitAttempt says when: not on
-- every call, which would cost a call each time for what only a crash leaves).
local function liveReservations(resKey, now, trim)
  if trim then redis.call('ZREMRANGEBYSCORE', resKey, '-inf', now) end
  local usd, tokens, calls, nUsd, nTokens, nCalls = 0, 0, 0, 0, 0, 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', resKey, '(' .. now, '+inf')) do
    -- "<leaseId>|<usd>|<tokens>|<calls>": the lease id holds '|' too, so the amounts are found
    -- from the end (a pattern without captures, tried only where three integers of up to 20
    -- digits can start, then plain finds).
    local at = string.find(m, '|%d+|%d+|%d+$', math.max(1, #m - 65))
    if at then
      local a = string.find(m, '|', at + 1, true)
      local b = string.find(m, '|', a + 1, true)
      local u, t, c = tonumber(string.sub(m, at + 1, a - 1)), tonumber(string.sub(m, a + 1, b - 1)), tonumber(string.sub(m, b + 1))
      usd, tokens, calls = usd + u, tokens + t, calls + c
      if u > 0 then nUsd = nUsd + 1 end
      if t > 0 then nTokens = nTokens + 1 end
      if c > 0 then nCalls = nCalls + 1 end
    end
  end
  return {usd = usd, tokens = tokens, calls = calls}, {usd = nUsd, tokens = nTokens, calls = nCalls}
end

local function spentIn(budgetKey)
  local v = redis.call('HMGET', budgetKey, 'spent:usd', 'spent:tokens', 'spent:calls')
  return {usd = numberOr(v[1], 0), tokens = numberOr(v[2], 0), calls = numberOr(v[3], 0)}
end

-- A scope's limits from an HMGET of <prefix>usd, tokens, calls, onExceed at v[i..i+3]; nil
-- when the scope has none.
local function limitsOf(v, i)
  if not v[i] and not v[i + 1] and not v[i + 2] then return nil end
  return {usd = tonumber(v[i]), tokens = tonumber(v[i + 1]), calls = tonumber(v[i + 2]), onExceed = v[i + 3] or 'fail'}
end

-- Limits (nil when none) and committed spend of a run or suite scope, in one read.
local function budgetIn(key)
  local v = redis.call('HMGET', key, 'limit:usd', 'limit:tokens', 'limit:calls', 'limit:onExceed', 'spent:usd', 'spent:tokens', 'spent:calls')
  return limitsOf(v, 1), {usd = numberOr(v[5], 0), tokens = numberOr(v[6], 0), calls = numberOr(v[7], 0)}
end

-- Limits of a scope stored as `<prefix>usd` etc.; nil when the scope has none.
local function limitsIn(key, prefix)
  return limitsOf(redis.call('HMGET', key, prefix .. 'usd', prefix .. 'tokens', prefix .. 'calls', prefix .. 'onExceed'), 1)
end

--[[
  Judges one reservation against a scope. For enforcing scopes (fail, halt):
    refuse  when committed spend plus the estimate passes the limit;
    wait    when other reservations are live and either the sum would pass the limit or
            the live reservations would take more than half of what is left.
  The half rule makes concurrency shrink near the limit, down to a lone attempt, so the
  limit is passed by at most one attempt's actual-minus-estimate while every actual stays
  within twice its estimate. For warn scopes: 'over' when the reservation passes the limit.
  Returns verdict, resource.
]]
local function judgeScope(limits, spent, reserved, counts, est)
  local enforcing = limits.onExceed ~= 'warn'
  for _, r in ipairs(RESOURCES) do
    local limit, e = limits[r], est[r]
    if limit and e > 0 then
      if enforcing then
        if spent[r] + e > limit then return 'refuse', r end
        if counts[r] > 0 then
          if spent[r] + reserved[r] + e > limit then return 'wait', r end
          if 2 * (reserved[r] + e) > limit - spent[r] then return 'wait', r end
        end
      elseif spent[r] + reserved[r] + e > limit then
        return 'over', r
      end
    end
  end
  return 'ok', nil
end

-- Natural units for events: USD from micro-USD.
local function natural(r, v)
  if r == 'usd' then return v / 1000000 end
  return v
end
