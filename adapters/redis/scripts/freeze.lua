-- KEYS: line. ARGV: shuffle key (hex).
-- Returns {placed, key (hex), base, slots}; the pre-queue is frozen after.
local line = KEYS[1]
freeze(line)
redis.call('HSETNX', line, 'pqkey', ARGV[1])
local h = redis.call('HMGET', line, 'placed', 'pqkey', 'pqbase', 'pqslot')
local placed = 0
if h[1] then placed = 1 end
return {placed, h[2] or '', tonumber(h[3] or 0), tonumber(h[4] or 0)}
