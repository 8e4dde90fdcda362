-- KEYS: meta, hold, users, seats, idem.
-- ARGV: id, user, seat, code, issued_at, key, limit.
-- Returns {0} not loaded, {1, n} claimed, {2, record} duplicate, {3} sold out,
-- {4} seat taken, {5} limit reached, {6} seat required, {7} seat not allowed,
-- {8} the id belongs to another buyer, {9} unknown seat.
-- Replays (same key, same id, a seat the buyer already holds) are answered
-- first, so a retry gets its issuance back instead of limit_reached; any
-- other claim meets the limit before stock or seat, so a holder never hears
-- sold out.
local meta, hold, users, seats, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, user, seat, key = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
local limit = tonumber(ARGV[7])

local m = redis.call('HMGET', meta, 'kind', 'stock')
local kind = m[1]
if not kind then return {0} end
local seat_holder = nil
if kind == 's' then
  if seat == '' then return {6} end
  seat_holder = redis.call('HGET', seats, seat)
  if not seat_holder then return {9} end
elseif seat ~= '' then
  return {7}
end

if key ~= '' then
  local kid = redis.call('HGET', idem, user .. SEP .. key)
  if kid then
    local rec = redis.call('HGET', hold, kid)
    if rec then return {2, rec} end
  end
end

local prev = redis.call('HGET', hold, id)
if prev then
  if field(prev, 2) == user then return {2, prev} end
  return {8}
end

if seat_holder and seat_holder ~= '' then
  local rec = redis.call('HGET', hold, seat_holder)
  if rec and field(rec, 2) == user then return {2, rec} end
end

local list = redis.call('HGET', users, user)
local held = split_ids(list)
if #held >= limit then return {5} end
if redis.call('HLEN', hold) >= tonumber(m[2]) then return {3} end
if seat_holder and seat_holder ~= '' then return {4} end

-- N is the lowest number none of the buyer's current units carries: the
-- count held plus one unless a release left a gap, which it then fills, so
-- N stays within the limit and (drop, user, n) backstops it in MySQL.
local used = {}
for _, hid in ipairs(held) do
  local rec = redis.call('HGET', hold, hid)
  if rec then used[tonumber(field(rec, 4))] = true end
end
local n = 1
while used[n] do n = n + 1 end

add_fields(meta, hold, users, seats, idem, id, user, seat, n, ARGV[4], ARGV[5], key, list)
return {1, n}
