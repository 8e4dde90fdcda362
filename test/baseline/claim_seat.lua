-- wrk script: every request claims a seat of a seated drop as a new buyer.
-- The two threads take alternate labels S1, S2, ... so that no two claims
-- name the same seat until SEATS (environment, default 100000) have been
-- claimed; past that labels wrap and the claims hear 409 seat_taken.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n, seats = 0, tonumber(os.getenv("SEATS") or "100000")
function request()
  n = n + 1
  local seat = ((n - 1) * 2 + tid - 1) % seats + 1
  return wrk.format("POST", wrk.path, { ["X-User-ID"] = "s" .. tid .. "-" .. n, ["Content-Type"] = "application/json" },
    '{"seat":"S' .. seat .. '"}')
end
