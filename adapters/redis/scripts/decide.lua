-- KEYS: queue, decisions, passes, line, prequeue, pqleft, gone.
-- ARGV: (user, decision, pass expiry)...
-- An empty expiry disarms the buyer's pass. Returns how many buyers left the
-- queue or the pre-queue; only those count as admitted, so deciding again
-- never counts twice. A member decided out of the pre-queue leaves its slot
-- unplaced, as one who left it does.
local q, dec, passes, line, pq, pqleft, gone = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local removed = 0
local seqs = {}
for i = 1, #ARGV, 3 do
  local user, d, exp = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local s = redis.call('ZSCORE', q, user)
  if s then
    redis.call('ZREM', q, user)
    seqs[#seqs + 1] = s
    removed = removed + 1
  else
    local slot = redis.call('ZSCORE', pq, user)
    if slot then
      redis.call('ZREM', pq, user)
      redis.call('ZADD', pqleft, slot, slot)
      removed = removed + 1
    end
  end
  redis.call('HSET', dec, user, d)
  if exp ~= '' then
    redis.call('ZADD', passes, exp, user)
  else
    redis.call('ZREM', passes, user)
  end
end
if #seqs > 0 then settle(q, line, gone, seqs) end
if removed > 0 then redis.call('HINCRBY', line, 'admitted', removed) end
return removed
