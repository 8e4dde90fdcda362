-- Shared helpers, prepended to the inventory scripts.
-- A holder record is id, user, seat, n, code, issued_at, key, seq joined by
-- SEP; the unit separator cannot occur in ids, seat labels or codes, and the
-- Go side refuses values that contain it. seq is the claim order within the
-- drop, which breaks ties between equal issued_at values.
local SEP = '\31'

local function field(rec, i)
  local start = 1
  for _ = 2, i do
    local p = string.find(rec, SEP, start, true)
    if not p then return '' end
    start = p + 1
  end
  local p = string.find(rec, SEP, start, true)
  if p then return string.sub(rec, start, p - 1) end
  return string.sub(rec, start)
end

-- A buyer's holdings are one comma-separated list of issuance ids.
local function split_ids(list)
  local t = {}
  if list then
    for id in string.gmatch(list, '[^,]+') do t[#t + 1] = id end
  end
  return t
end

-- remove_record undoes what a claim of rec wrote: the record, its place in
-- the buyer's list, its seat and its idempotency key (when they still point
-- at it). The seat goes back to '' (free) rather than away, because the
-- seat hash also answers "is this a seat of the drop".
local function remove_record(hold, users, seats, idem, id, rec)
  local user = field(rec, 2)
  redis.call('HDEL', hold, id)
  local rest = {}
  for _, hid in ipairs(split_ids(redis.call('HGET', users, user))) do
    if hid ~= id then rest[#rest + 1] = hid end
  end
  if #rest == 0 then
    redis.call('HDEL', users, user)
  else
    redis.call('HSET', users, user, table.concat(rest, ','))
  end
  local seat = field(rec, 3)
  if seat ~= '' and redis.call('HGET', seats, seat) == id then
    redis.call('HSET', seats, seat, '')
  end
  local key = field(rec, 7)
  if key ~= '' then
    local ikey = user .. SEP .. key
    if redis.call('HGET', idem, ikey) == id then redis.call('HDEL', idem, ikey) end
  end
end

-- add_fields writes a held unit from its fields, stamping it with the next
-- claim sequence, and returns the stored record. list is the buyer's
-- holdings list as read by the caller (false when they hold nothing).
local function add_fields(meta, hold, users, seats, idem, id, user, seat, n, code, at, key, list)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local rec = table.concat({id, user, seat, n, code, at, key, seq}, SEP)
  redis.call('HSET', hold, id, rec)
  if list then
    redis.call('HSET', users, user, list .. ',' .. id)
  else
    redis.call('HSET', users, user, id)
  end
  if seat ~= '' then redis.call('HSET', seats, seat, id) end
  if key ~= '' then redis.call('HSET', idem, user .. SEP .. key, id) end
  return rec
end

-- add_record writes rec as a held unit, stamping it with the next claim
-- sequence, and returns the stored record.
local function add_record(meta, hold, users, seats, idem, rec)
  local user = field(rec, 2)
  return add_fields(meta, hold, users, seats, idem, field(rec, 1), user, field(rec, 3),
    field(rec, 4), field(rec, 5), field(rec, 6), field(rec, 7), redis.call('HGET', users, user))
end
