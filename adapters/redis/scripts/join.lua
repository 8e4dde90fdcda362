-- KEYS: queue, line, decisions. ARGV: user.
-- Returns {1, position, created} waiting, {2, decision} decided, {3} closed.
-- The score is a per-drop sequence, not the clock, so arrival order holds
-- across app instances whose clocks disagree.
local q, line, dec = KEYS[1], KEYS[2], KEYS[3]
local user = ARGV[1]
local d = redis.call('HGET', dec, user)
if d then return {2, d} end
if redis.call('HEXISTS', line, 'closed') == 1 then return {3} end
local r = redis.call('ZRANK', q, user)
if r then return {1, r + 1, 0} end
local seq = redis.call('HINCRBY', line, 'seq', 1)
redis.call('ZADD', q, 'NX', seq, user)
-- The newest member has the highest score, so its position is the length.
return {1, redis.call('ZCARD', q), 1}
