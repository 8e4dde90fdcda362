-- Shared helpers, prepended to the line scripts. The line hash holds seq
-- (the last sequence handed out), epoch, closed, admitted and the pre-queue
-- state: pqslot (the last arrival slot handed out), frozen, pqbase, pqkey
-- and placed. A pre-queue is "reserving" once frozen with slots and until
-- placed: sequences pqbase+1 .. pqbase+pqslot then belong to members not yet
-- in the queue.

local function reserving(h_frozen, h_placed, h_pqslot)
  return h_frozen and not h_placed and tonumber(h_pqslot or 0) > 0
end

-- line_head is the lowest sequence still waiting, or seq+1 when none. While
-- reserving, the first reserved sequence counts as waiting, so the head
-- never jumps over members about to be placed and never moves back.
local function line_head(q, line)
  local h = redis.call('HMGET', line, 'seq', 'frozen', 'placed', 'pqslot', 'pqbase')
  local head = tonumber(h[1] or 0) + 1
  local first = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
  if first[2] then head = tonumber(first[2]) end
  if reserving(h[2], h[3], h[4]) then head = math.min(head, tonumber(h[5] or 0) + 1) end
  return head
end

-- settle records the sequences taken out of the line as gone unless the head
-- passed them, and forgets the gone sequences the head passed: gone stays as
-- small as the gaps ahead of the tail.
local function settle(q, line, gone, seqs)
  local head = line_head(q, line)
  for _, s in ipairs(seqs) do
    if tonumber(s) >= head then redis.call('ZADD', gone, s, s) end
  end
  redis.call('ZREMRANGEBYSCORE', gone, '-inf', '(' .. head)
end

-- freeze reserves a sequence for every arrival slot handed out so far, so
-- that later joiners stand behind the whole pre-queue; once only.
local function freeze(line)
  local h = redis.call('HMGET', line, 'frozen', 'pqslot', 'seq')
  if h[1] then return end
  local slots, base = tonumber(h[2] or 0), tonumber(h[3] or 0)
  redis.call('HSET', line, 'frozen', 1, 'pqbase', base)
  if slots > 0 then
    redis.call('HINCRBY', line, 'seq', slots)
  else
    -- Nobody ever joined the pre-queue: there is nothing to place.
    redis.call('HSET', line, 'placed', 1)
  end
end

-- position of a waiting member at rank r (0-based) with sequence seq. While
-- reserving, every unplaced member may land ahead of a buyer behind pqbase,
-- so all of them count: placing them then never moves anyone back.
local function position(q, pq, h_frozen, h_placed, h_pqslot, h_pqbase, r, seq)
  local p = r + 1
  if reserving(h_frozen, h_placed, h_pqslot) and seq > tonumber(h_pqbase or 0) then
    p = p + redis.call('ZCARD', pq)
  end
  return p
end
