-- KEYS: prequeue, queue, line. ARGV: (user, seq)...
-- Returns {1} placed, or {0, user, seq} for a placement outside the
-- reserved sequences or on one already held, placing nobody: every
-- placement is checked before any is made.
local pq, q, line = KEYS[1], KEYS[2], KEYS[3]
local h = redis.call('HMGET', line, 'frozen', 'pqbase', 'pqslot')
local lo = tonumber(h[2] or 0)
local hi = lo + tonumber(h[3] or 0)
local seen = {}
for i = 1, #ARGV, 2 do
  local user, seq = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call('ZSCORE', pq, user) then
    if not h[1] or seq <= lo or seq > hi or seen[seq]
        or #redis.call('ZRANGEBYSCORE', q, seq, seq, 'LIMIT', 0, 1) > 0 then
      return {0, user, ARGV[i + 1]}
    end
    seen[seq] = true
  end
end
for i = 1, #ARGV, 2 do
  local user, seq = ARGV[i], ARGV[i + 1]
  if redis.call('ZREM', pq, user) == 1 then redis.call('ZADD', q, seq, user) end
end
return {1}
