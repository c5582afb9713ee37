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
local expiry = guardNow() + tonumber(ARGV[3])
local n = 0
for i = 1, 3 do n = n + redis.call('ZADD', KEYS[i], 'XX', 'CH', expiry, leaseId) end
if member ~= '' then
  for i = 4, 6 do n = n + redis.call('ZADD', KEYS[i], 'XX', 'CH', expiry, member) end
end
return n
