--[[
  Extends a lock this owner still holds (compare-and-expire), so a slow holder keeps it
  and a lapsed one never renews someone else's.
  KEYS[1] lock key. ARGV[1] owner token, ARGV[2] new time to live (ms).
  Returns 1 when extended, 0 when the lock is gone or held by another owner.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
