-- KEYS: queue, line, gone.
-- Returns {epoch, head, tail, closed, ready, {gone sequences >= head}}.
-- Costs O(log n + g) for g gaps ahead of the tail, whatever the length n.
local q, line, gone = KEYS[1], KEYS[2], KEYS[3]
local h = redis.call('HMGET', line, 'epoch', 'seq', 'closed', 'frozen', 'placed', 'pqslot')
local head = line_head(q, line)
local ready = 1
if tonumber(h[6] or 0) > 0 and not h[5] then ready = 0 end
local closed = 0
if h[3] then closed = 1 end
-- As integers, which the client decodes without a string apiece.
local gaps = redis.call('ZRANGEBYSCORE', gone, head, '+inf')
for i, g in ipairs(gaps) do gaps[i] = tonumber(g) end
return {h[1] or '', head, tonumber(h[2] or 0), closed, ready, gaps}
