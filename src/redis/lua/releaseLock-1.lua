--[[
  Releases a lock only if this owner still holds it (compare-and-delete).
  KEYS[1] lock key. ARGV[1] owner token.
  Returns 1 when released, 0 when the lock is gone or held by another owner.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
