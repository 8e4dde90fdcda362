-- KEYS: queue, decisions, passes, line. ARGV: (user, decision, pass expiry)...
-- An empty expiry disarms the buyer's pass. Returns how many buyers left
-- the queue; only those count as admitted, so deciding again never counts twice.
local q, dec, passes, line = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local removed = 0
for i = 1, #ARGV, 3 do
  local user, d, exp = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  removed = removed + redis.call('ZREM', q, user)
  redis.call('HSET', dec, user, d)
  if exp ~= '' then
    redis.call('ZADD', passes, exp, user)
  else
    redis.call('ZREM', passes, user)
  end
end
if removed > 0 then redis.call('HINCRBY', line, 'admitted', removed) end
return removed
