-- KEYS: queue, line, prequeue, pqleft, gone, passes, decisions. ARGV: user.
-- Returns 1 when the buyer left the queue or the pre-queue or gave back an
-- armed pass, 0 when none of those.
local q, line, pq, pqleft, gone, passes, dec = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local user = ARGV[1]
local s = redis.call('ZSCORE', q, user)
if s then
  redis.call('ZREM', q, user)
  settle(q, line, gone, {s})
  return 1
end
local slot = redis.call('ZSCORE', pq, user)
if slot then
  -- The slot's reserved sequence will stay empty: a hole to finish with.
  redis.call('ZREM', pq, user)
  redis.call('ZADD', pqleft, slot, slot)
  return 1
end
if redis.call('ZREM', passes, user) == 1 then
  -- The pass ends now: its decision reads expired, and no longer keeps a
  -- pass (status, issuance, token, expiry are the first four fields).
  local d = redis.call('HGET', dec, user)
  if d then
    local f, start = {}, 1
    for _ = 1, 4 do
      local p = string.find(d, '\31', start, true)
      if p then
        f[#f + 1] = string.sub(d, start, p - 1)
        start = p + 1
      else
        f[#f + 1] = string.sub(d, start)
        start = #d + 2
      end
    end
    f[1] = 'expired'
    redis.call('HSET', dec, user, table.concat(f, '\31'))
  end
  return 1
end
return 0
