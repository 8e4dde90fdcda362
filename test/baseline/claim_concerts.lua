-- wrk script: seat claims spread over CONCERTS seated drops (environment,
-- default 50) named CONCERT_PREFIX1..CONCERT_PREFIXn, each of SEATS seats
-- (default 50000): request g of the run goes to drop g mod n and takes that
-- drop's next free seat, as a new buyer; past n x SEATS claims labels wrap and
-- the claims hear 409 seat_taken.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
local drops = tonumber(os.getenv("CONCERTS") or "50")
local seats = tonumber(os.getenv("SEATS") or "50000")
local prefix = os.getenv("CONCERT_PREFIX") or "concert-"
function request()
  n = n + 1
  local g = (n - 1) * 2 + tid - 1
  local d = g % drops + 1
  local seat = math.floor(g / drops) % seats + 1
  return wrk.format("POST", "/v1/drops/" .. prefix .. d .. "/claims",
    { ["X-User-ID"] = "c" .. tid .. "-" .. n, ["Content-Type"] = "application/json" }, '{"seat":"S' .. seat .. '"}')
end
