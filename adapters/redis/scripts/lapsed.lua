-- KEYS: passes, decisions. ARGV: now (microseconds), n.
-- Returns user, decision pairs for up to n passes that expired before now.
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, user in ipairs(users) do
  local d = redis.call('HGET', KEYS[2], user)
  if d then
    out[#out + 1] = user
    out[#out + 1] = d
  end
end
return out
