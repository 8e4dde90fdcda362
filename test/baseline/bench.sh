#!/usr/bin/env bash
# Measures fastdeal's queued join and line status against DESIGN.md's
# yardstick: a bare Fiber handler making the same one Lua call, and a bare
# "hello", all driven by the same wrk settings on the same cores.
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

rps() { wrk -t2 -c64 -d"${secs}s" --latency "$@" | awk '/Requests\/sec/ {print int($2)} / 99%/ {p99=$2} END {print p99}' | paste -sd' '; }
printf '%-4s %-22s %12s %10s\n' run case req/s p99
for r in $(seq 1 "$runs"); do
  drop="bench-$(date +%s%N)-$r"
  curl -sf -X POST "$url/v1/admin/drops" -H "Authorization: Bearer $token" \
    -d "{\"id\":\"$drop\",\"name\":\"bench\",\"kind\":\"general\",\"stock\":10000000,\"admission\":\"queued\",\"paused\":true}" >/dev/null
  bdrop="bare-$drop"
  read -r a b < <(rps "$bare/hello");                                        printf '%-4s %-22s %12s %10s\n' "$r" "bare hello" "$a" "$b"
  read -r a b < <(rps -s "$here/join.lua" "$bare/v1/drops/$bdrop/line");     printf '%-4s %-22s %12s %10s\n' "$r" "bare lua join" "$a" "$b"
  read -r a b < <(rps -s "$here/status.lua" "$bare/v1/drops/$bdrop/line/me"); printf '%-4s %-22s %12s %10s\n' "$r" "bare lua status" "$a" "$b"
  read -r a b < <(rps -s "$here/join.lua" "$url/v1/drops/$drop/line");       printf '%-4s %-22s %12s %10s\n' "$r" "fastdeal join" "$a" "$b"
  read -r a b < <(rps -s "$here/status.lua" "$url/v1/drops/$drop/line/me");  printf '%-4s %-22s %12s %10s\n' "$r" "fastdeal status" "$a" "$b"
done
