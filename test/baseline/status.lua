-- wrk script: every request reads the position of one of the first 2,000
-- buyers that join.lua's thread of the same number queued. wrk calls the
-- first thread's request() once before the run, to check the script
-- (script_verify_request), and never sends that request: join.lua's "t1-1"
-- never joins, so buyers 2 to 2,001 are read (1 to 2,000 answered a few
-- dozen 404s in every run).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  return wrk.format("GET", wrk.path, { ["X-User-ID"] = "t" .. tid .. "-" .. math.random(2, 2001) })
end
