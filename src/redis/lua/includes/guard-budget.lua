--[[
  Budgets (SPEC §9). A scope is a hash (limit:<r>, limit:onExceed, spent:<r>, warned:<r>,
  exceeded:<r>) and a zset of live reservations: member "<leaseId>|<usdMicro>|<tokens>|<calls>",
  score = lease expiry, so a dead worker's reservations lapse by themselves.
  USD is counted in integer micro-USD so sums never drift.
]]
--- @include "guard-common"

local RESOURCES = {'usd', 'tokens', 'calls'}

-- Drops lapsed reservations and sums the live ones per resource (and how many are nonzero).
local function liveReservations(resKey, now)
  redis.call('ZREMRANGEBYSCORE', resKey, '-inf', now)
  local sums = {usd = 0, tokens = 0, calls = 0}
  local counts = {usd = 0, tokens = 0, calls = 0}
  for _, m in ipairs(redis.call('ZRANGE', resKey, 0, -1)) do
    local _, usd, tokens, calls = string.match(m, '^(.*)|(%d+)|(%d+)|(%d+)$')
    local amounts = {usd = tonumber(usd) or 0, tokens = tonumber(tokens) or 0, calls = tonumber(calls) or 0}
    for _, r in ipairs(RESOURCES) do
      sums[r] = sums[r] + amounts[r]
      if amounts[r] > 0 then counts[r] = counts[r] + 1 end
    end
  end
  return sums, counts
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
