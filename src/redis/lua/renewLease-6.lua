--[[
  Extends the lease of a running attempt: its permits, probe slot and reservations stay
  taken for another leaseMs. Entries that already lapsed are not brought back.
  KEYS[1] global permits  KEYS[2] service permits  KEYS[3] service probes
  KEYS[4] run reservations  KEYS[5] suite reservations  KEYS[6] daily reservations
  ARGV[1] leaseId  ARGV[2] reservation member ('' = none)  ARGV[3] leaseMs
  Returns the number of entries extended.
]]
--- @include "guard-common"

local leaseId, member = ARGV[1], ARGV[2]
local now = guardNow()
local expiry = now + tonumber(ARGV[3])
local n = 0
-- Admission counts live entries and leaves lapsed ones for a later trim (admitAttempt), so a
-- lapsed entry may still be there: it is not extended (its place may have been given away).
local function extend(key, m)
  local score = redis.call('ZSCORE', key, m)
  if score and tonumber(score) > now then
    redis.call('ZADD', key, 'XX', expiry, m)
    n = n + 1
  end
end
for i = 1, 3 do extend(KEYS[i], leaseId) end
if member ~= '' then
  for i = 4, 6 do extend(KEYS[i], member) end
end
return n
