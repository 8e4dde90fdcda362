-- KEYS: line, prequeue, pqleft, gone, queue. ARGV: holes (sequences)...
-- Returns {1} done (now or before), {0} busy (members unplaced, or not as many
-- holes as slots left), {-1, hole} for a hole that is not a free reserved
-- sequence (nothing changed).
local line, pq, pqleft, gone, q = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local h = redis.call('HMGET', line, 'frozen', 'placed', 'pqbase', 'pqslot')
if h[2] then return {1} end
if not h[1] or redis.call('ZCARD', pq) > 0 or redis.call('ZCARD', pqleft) ~= #ARGV then return {0} end
local lo = tonumber(h[3] or 0)
local hi = lo + tonumber(h[4] or 0)
local seen = {}
for _, a in ipairs(ARGV) do
  local seq = tonumber(a)
  if not seq or seq <= lo or seq > hi or seen[seq]
      or #redis.call('ZRANGEBYSCORE', q, seq, seq, 'LIMIT', 0, 1) > 0 then
    return {-1, a}
  end
  seen[seq] = true
end
redis.call('HSET', line, 'placed', 1)
settle(q, line, gone, ARGV)
return {1}
