-- KEYS: queue, line, decisions. ARGV: user.
-- Returns {0} not in line, {1, position} waiting, {2, decision}, {3} closed.
local q, line, dec = KEYS[1], KEYS[2], KEYS[3]
local user = ARGV[1]
local d = redis.call('HGET', dec, user)
if d then return {2, d} end
local r = redis.call('ZRANK', q, user)
if not r then return {0} end
if redis.call('HEXISTS', line, 'closed') == 1 then return {3} end
return {1, r + 1}
