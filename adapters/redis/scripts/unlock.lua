-- KEYS: lock or lease. ARGV: token of the holder.
-- Compare and delete in one step, so a holder whose time ran out cannot
-- delete the lock the next holder has since taken.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
