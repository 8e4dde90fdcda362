-- wrk script: every request reads the position of one of the first 2,000
-- buyers that join.lua's thread of the same number queued.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  return wrk.format("GET", wrk.path, { ["X-User-ID"] = "t" .. tid .. "-" .. math.random(1, 2000) })
end
