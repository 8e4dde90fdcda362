-- KEYS: meta. ARGV: kind (g|s), stock.
-- Never touches a drop that is already loaded, so a second Load or a Load
-- racing with claims cannot hand out units twice.
if redis.call('HEXISTS', KEYS[1], 'kind') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'stock', ARGV[2])
return 1
