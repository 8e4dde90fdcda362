-- KEYS: meta, hold, users, seats, idem. ARGV: id, user.
-- Returns 0 not loaded, -1 not held, 1 released. The idempotency key is
-- taken from the record, so it is cleared even when the caller omits it.
if redis.call('HEXISTS', KEYS[1], 'kind') == 0 then return 0 end
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if not rec or field(rec, 2) ~= ARGV[2] then return -1 end
remove_record(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], rec)
return 1
