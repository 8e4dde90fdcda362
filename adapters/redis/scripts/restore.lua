-- KEYS: meta, hold, users, seats, idem. ARGV: kind, stock, final, total, record...
-- Adds each durable record the hold hash lacks by id; the last batch
-- (final = 1) then marks the drop loaded if it is not. Marking it last means
-- no claim can run against a half-restored drop (seats or records missing):
-- until then every claim hears "not loaded". A durable record
-- wins over one it conflicts with (the same seat, or the same buyer and N,
-- under another id): that one belonged to a claim that can no longer be
-- recorded. Returns how many records it added. Units left and per-buyer
-- counts need no fixing: they are derived from the records.
local meta, hold, users, seats, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local added = 0
for i = 5, #ARGV do
  local rec = ARGV[i]
  local id, user, seat, n = field(rec, 1), field(rec, 2), field(rec, 3), field(rec, 4)
  if redis.call('HEXISTS', hold, id) == 0 then
    if seat ~= '' then
      local other = redis.call('HGET', seats, seat)
      if other and other ~= '' then
        local orec = redis.call('HGET', hold, other)
        if orec then remove_record(hold, users, seats, idem, other, orec) end
      end
    end
    for _, hid in ipairs(split_ids(redis.call('HGET', users, user))) do
      local orec = redis.call('HGET', hold, hid)
      if orec and field(orec, 4) == n then remove_record(hold, users, seats, idem, hid, orec) end
    end
    add_record(meta, hold, users, seats, idem, rec)
    added = added + 1
  end
end
if ARGV[3] == '1' and redis.call('HEXISTS', meta, 'kind') == 0 then
  -- An earlier batch lost in between (Redis restarted mid-restore) would
  -- leave holders missing: refuse to mark such a drop loaded.
  if redis.call('HLEN', hold) < tonumber(ARGV[4]) then return -1 end
  redis.call('HSET', meta, 'kind', ARGV[1], 'stock', ARGV[2])
end
return added
