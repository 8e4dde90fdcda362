-- KEYS: queue, line, decisions, prequeue. ARGV: user.
-- Returns {0} not in line, {1, position, 0, seq, epoch} waiting,
-- {2, decision}, {3} closed, {4, 0} in the pre-queue.
local q, line, dec, pq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local user = ARGV[1]
-- A buyer in the queue is never decided (Decide takes them out).
local s = redis.call('ZSCORE', q, user)
if s then
  local h = redis.call('HMGET', line, 'closed', 'epoch', 'frozen', 'placed', 'pqslot', 'pqbase')
  if h[1] then return {3} end
  s = tonumber(s)
  return {1, position(q, pq, h[3], h[4], h[5], h[6], redis.call('ZRANK', q, user), s), 0, s, h[2]}
end
local d = redis.call('HGET', dec, user)
if d then return {2, d} end
if redis.call('ZSCORE', pq, user) then
  if redis.call('HEXISTS', line, 'closed') == 1 then return {3} end
  return {4, 0}
end
return {0}
