-- wrk script: status polls that present a line ticket. TICKETS (environment)
-- names the file of "user ticket" lines that `baseline -tickets` wrote; each
-- thread walks it from its own offset, so the buyers' polls spread evenly.
-- The requests are built once, in init: building one per request in Lua cost
-- wrk several times what its fixed request costs, on the cores the servers
-- share with it.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local reqs, n, i = {}, 0, 0
function init(args)
  local path = os.getenv("TICKETS") or "/tmp/fastdeal-bench-tickets"
  for line in io.lines(path) do
    local u, t = line:match("^(%S+) (%S+)$")
    if u then
      n = n + 1
      reqs[n] = wrk.format("GET", wrk.path, { ["X-User-ID"] = u, ["X-Line-Ticket"] = t })
    end
  end
  if n == 0 then error("no tickets in " .. path) end
  i = ((tid or 1) - 1) * math.floor(n / 2)
end
function request()
  i = i % n + 1
  return reqs[i]
end
