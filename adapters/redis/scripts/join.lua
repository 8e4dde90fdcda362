-- KEYS: queue, line, decisions, prequeue. ARGV: user, epoch candidate,
-- mode ('q' the line, 'p' the pre-queue).
-- Returns {1, position, created, seq, epoch} waiting, {2, decision} decided,
-- {3} closed, {4, created} in the pre-queue.
-- The score is a per-drop sequence, not the clock, so arrival order holds
-- across app instances whose clocks disagree. The epoch is set by the first
-- join of an incarnation of the line: a line lost with Redis gets another.
local q, line, dec, pq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local user = ARGV[1]
local h = redis.call('HMGET', line, 'closed', 'epoch', 'frozen', 'placed', 'pqslot', 'pqbase')
local epoch = h[2]

-- The usual join: a line with an epoch and no pre-queue, joined as 'q'. Five
-- commands for a new buyer (the bare line of the yardstick takes three): the
-- decisions check cannot go, but membership comes from ZADD NX itself, the
-- sequence it took handed back when the buyer was already queued. A queued
-- buyer is never decided (Decide takes them out), so a decision found means
-- the buyer is not in the queue.
if epoch and not h[5] and ARGV[3] == 'q' then
  local d = redis.call('HGET', dec, user)
  if d then return {2, d} end
  if h[1] then return {3} end
  local seq = redis.call('HINCRBY', line, 'seq', 1)
  if redis.call('ZADD', q, 'NX', seq, user) == 1 then
    -- The newest member has the highest score, so its rank is the length - 1.
    return {1, redis.call('ZCARD', q), 1, seq, epoch}
  end
  -- Already waiting: nothing ran between the two increments, so handing the
  -- sequence back leaves no gap in the line.
  redis.call('HINCRBY', line, 'seq', -1)
  local s = tonumber(redis.call('ZSCORE', q, user))
  return {1, redis.call('ZRANK', q, user) + 1, 0, s, epoch}
end

-- The first join of an incarnation, and every join while a pre-queue exists.
-- A buyer in the queue is never decided, so the usual repeat join skips the
-- decisions hash.
local s = redis.call('ZSCORE', q, user)
if s then
  if h[1] then return {3} end
  s = tonumber(s)
  return {1, position(q, pq, h[3], h[4], h[5], h[6], redis.call('ZRANK', q, user), s), 0, s, h[2]}
end
local d = redis.call('HGET', dec, user)
if d then return {2, d} end
if h[1] then return {3} end
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', line, 'epoch', epoch)
end
local pqlen = 0
if h[5] then
  if redis.call('ZSCORE', pq, user) then return {4, 0} end
  pqlen = redis.call('ZCARD', pq)
end
if not h[3] then
  if ARGV[3] == 'p' then
    local slot = redis.call('HINCRBY', line, 'pqslot', 1)
    redis.call('ZADD', pq, slot, user)
    return {4, 1}
  end
  if pqlen > 0 then
    -- A buyer in the line before the pre-queue is frozen would stand ahead
    -- of its members: freezing first keeps them all ahead.
    freeze(line)
    h = redis.call('HMGET', line, 'closed', 'epoch', 'frozen', 'placed', 'pqslot', 'pqbase')
  end
end
local seq = redis.call('HINCRBY', line, 'seq', 1)
redis.call('ZADD', q, seq, user)
return {1, position(q, pq, h[3], h[4], h[5], h[6], redis.call('ZCARD', q) - 1, seq), 1, seq, epoch}
