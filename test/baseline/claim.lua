-- wrk script: every request claims a unit as a new buyer ("t<thread>-<n>").
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", wrk.path, { ["X-User-ID"] = "c" .. tid .. "-" .. n, ["Content-Type"] = "application/json" }, "{}")
end
