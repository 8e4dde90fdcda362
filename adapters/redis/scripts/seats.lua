-- KEYS: meta, seats. ARGV: seat labels.
-- Adds free seats before the drop is marked loaded; seats that exist keep
-- their holders, and a loaded drop is left alone entirely.
if redis.call('HEXISTS', KEYS[1], 'kind') == 1 then return 0 end
for i = 1, #ARGV do redis.call('HSETNX', KEYS[2], ARGV[i], '') end
return 1
