-- KEYS: meta, hold. Returns {0} not loaded or {1, units left}.
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then return {0} end
local left = tonumber(stock) - redis.call('HLEN', KEYS[2])
if left < 0 then left = 0 end
return {1, left}
