-- KEYS: meta, users, hold. ARGV: user.
-- Returns {0} not loaded or {1, record...} in claim order.
if redis.call('HEXISTS', KEYS[1], 'kind') == 0 then return {0} end
local out = {1}
local ids = split_ids(redis.call('HGET', KEYS[2], ARGV[1]))
if #ids == 0 then return out end
for _, rec in ipairs(redis.call('HMGET', KEYS[3], unpack(ids))) do
  if rec then out[#out + 1] = rec end
end
return out
