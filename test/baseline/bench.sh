#!/usr/bin/env bash
# Measures fastdeal's queued join and line status against DESIGN.md's
# yardstick: a bare Fiber handler making the same one Lua call, and a bare
# "hello", all driven by the same wrk settings on the same cores; open claims
# (answered only once committed to MySQL) are measured beside them.
# Usage: test/baseline/bench.sh FASTDEAL_URL ADMIN_TOKEN [runs] [seconds]
# Needs wrk (Debian package wrk) and a fastdeal serve with Redis.
set -euo pipefail
url=${1:?fastdeal base URL}
token=${2:?admin token}
runs=${3:-3}
secs=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "bench.sh: install wrk (apt-get install wrk)" >&2; exit 1; }
bare=http://127.0.0.1:18200
go build -o /tmp/fastdeal-baseline "$here"
/tmp/fastdeal-baseline -addr 127.0.0.1:18200 >/tmp/fastdeal-baseline.log 2>&1 &
bpid=$!
trap 'kill $bpid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "$bare/hello" >/dev/null && break; sleep 0.1; done

# wrk counts answers other than 2xx/3xx apart; any of them spoils a run.
rps() { wrk -t2 -c64 -d"${secs}s" --latency "$@" | awk '/Requests\/sec/ {r=int($2)} / 99%/ {p99=$2} /Non-2xx/ {bad=$NF} END {print r, p99, bad+0}'; }
row() { printf '%-4s %-22s %12s %10s %8s\n' "$@"; }
row run case req/s p99 non-2xx
for r in $(seq 1 "$runs"); do
  drop="bench-$(date +%s%N)-$r"
  curl -sf -X POST "$url/v1/admin/drops" -H "Authorization: Bearer $token" \
    -d "{\"id\":\"$drop\",\"name\":\"bench\",\"kind\":\"general\",\"stock\":10000000,\"admission\":\"queued\",\"paused\":true}" >/dev/null
  curl -sf -X POST "$url/v1/admin/drops" -H "Authorization: Bearer $token" \
    -d "{\"id\":\"$drop-open\",\"name\":\"bench\",\"kind\":\"general\",\"stock\":10000000}" >/dev/null
  bdrop="bare-$drop"
  row "$r" "bare hello" $(rps "$bare/hello")
  row "$r" "bare lua join" $(rps -s "$here/join.lua" "$bare/v1/drops/$bdrop/line")
  row "$r" "bare lua status" $(rps -s "$here/status.lua" "$bare/v1/drops/$bdrop/line/me")
  row "$r" "fastdeal join" $(rps -s "$here/join.lua" "$url/v1/drops/$drop/line")
  row "$r" "fastdeal status" $(rps -s "$here/status.lua" "$url/v1/drops/$drop/line/me")
  row "$r" "fastdeal claim (durable)" $(rps -s "$here/claim.lua" "$url/v1/drops/$drop-open/claims")
done
