#!/usr/bin/env bash
# Measures fastdeal's queued join and line status against the design's
# yardstick: a bare Fiber handler making the same one Lua call, and a bare
# "hello", all driven by the same wrk settings on the same cores; open claims
# (answered only once committed to MySQL) are measured beside them. Each
# fastdeal case runs right after the bare case it is compared with, so the
# two share the machine's state of the moment; the ratios are per run, and
# their medians over the runs are printed last.
#
# The ticketed status row polls with X-Line-Ticket: before each run the
# helper (`baseline -tickets`) joins TICKET_USERS buyers (default 20,000) to
# the run's queued, paused drop and keeps their tickets; status_ticket.lua
# polls them in turn. Spread over 20,000 buyers, even 400,000 polls a second
# stay under the default per-buyer limit (FASTDEAL_RATE_PER_USER=20, burst
# 40), and the other rows use 4,000 buyers (status) or a new buyer per
# request, so the server runs with its default limits; a 429 would show in
# the non-2xx column.
#
# "bare hello" is wrk's fixed request, which costs wrk next to nothing; the
# ticketed polls are built by a Lua script for each request, and wrk shares
# the two cores with the servers. "bare hello (same requests)" sends the
# ticketed polls' very requests (status_ticket.lua) to /hello, so that only
# the servers differ; both ratios are printed.
#
# Usage: test/baseline/bench.sh FASTDEAL_URL ADMIN_TOKEN [runs] [seconds]
# Needs wrk (Debian package wrk) and a fastdeal serve with Redis.
set -euo pipefail
url=${1:?fastdeal base URL}
token=${2:?admin token}
runs=${3:-3}
secs=${4:-10}
ticket_users=${TICKET_USERS:-20000}
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "bench.sh: install wrk (apt-get install wrk)" >&2; exit 1; }
bare=http://127.0.0.1:18200
export TICKETS=${TICKETS:-/tmp/fastdeal-bench-tickets}
go build -o /tmp/fastdeal-baseline "$here"
/tmp/fastdeal-baseline -addr 127.0.0.1:18200 >/tmp/fastdeal-baseline.log 2>&1 &
bpid=$!
trap 'kill $bpid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "$bare/hello" >/dev/null && break; sleep 0.1; done

# wrk counts answers other than 2xx/3xx apart; any of them spoils a run.
rps() { wrk -t2 -c64 -d"${secs}s" --latency "$@" | awk '/Requests\/sec/ {r=int($2)} / 99%/ {p99=$2} /Non-2xx/ {bad=$NF} END {print r, p99, bad+0}'; }
row() { printf '%-4s %-28s %12s %10s %8s\n' "$@"; }
# measure RUN NAME wrk-args...: prints the row and keeps req/s in rate[NAME].
declare -A rate
measure() {
  local r=$1 name=$2
  shift 2
  local out
  out=$(rps "$@")
  row "$r" "$name" $out
  rate[$name]=${out%% *}
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2)}'; }
r_join="" r_ticket="" r_ticket_same="" r_status="" r_claim=""

row run case req/s p99 non-2xx
for r in $(seq 1 "$runs"); do
  drop="bench-$(date +%s%N)-$r"
  curl -sf -X POST "$url/v1/admin/drops" -H "Authorization: Bearer $token" \
    -d "{\"id\":\"$drop\",\"name\":\"bench\",\"kind\":\"general\",\"stock\":10000000,\"admission\":\"queued\",\"paused\":true}" >/dev/null
  curl -sf -X POST "$url/v1/admin/drops" -H "Authorization: Bearer $token" \
    -d "{\"id\":\"$drop-open\",\"name\":\"bench\",\"kind\":\"general\",\"stock\":10000000}" >/dev/null
  /tmp/fastdeal-baseline -tickets "$url/v1/drops/$drop/line" -users "$ticket_users" -out "$TICKETS"
  bdrop="bare-$drop"
  measure "$r" "bare hello" "$bare/hello"
  measure "$r" "bare hello (same requests)" -s "$here/status_ticket.lua" "$bare/hello"
  measure "$r" "fastdeal status (ticket)" -s "$here/status_ticket.lua" "$url/v1/drops/$drop/line/me"
  measure "$r" "bare lua join" -s "$here/join.lua" "$bare/v1/drops/$bdrop/line"
  measure "$r" "fastdeal join" -s "$here/join.lua" "$url/v1/drops/$drop/line"
  measure "$r" "bare lua status" -s "$here/status.lua" "$bare/v1/drops/$bdrop/line/me"
  measure "$r" "fastdeal status" -s "$here/status.lua" "$url/v1/drops/$drop/line/me"
  measure "$r" "fastdeal claim (durable)" -s "$here/claim.lua" "$url/v1/drops/$drop-open/claims"
  j=$(ratio "${rate[fastdeal join]}" "${rate[bare lua join]}")
  t=$(ratio "${rate[fastdeal status (ticket)]}" "${rate[bare hello]}")
  ts=$(ratio "${rate[fastdeal status (ticket)]}" "${rate[bare hello (same requests)]}")
  s=$(ratio "${rate[fastdeal status]}" "${rate[bare lua status]}")
  c=$(ratio "${rate[fastdeal claim (durable)]}" "${rate[bare lua join]}")
  echo "run $r ratios: join/bare-lua-join $j (>= 0.8)  status-ticket/bare-hello $t (>= 0.8)  status-ticket/bare-hello-same-requests $ts  status/bare-lua-status $s (>= 0.8)  claim/bare-lua-join $c (>= 0.5)"
  r_join+="$j " r_ticket+="$t " r_ticket_same+="$ts " r_status+="$s " r_claim+="$c "
done
echo "median of $runs: join/bare-lua-join $(median <<<"$r_join")  status-ticket/bare-hello $(median <<<"$r_ticket")  status-ticket/bare-hello-same-requests $(median <<<"$r_ticket_same")  status/bare-lua-status $(median <<<"$r_status")  claim/bare-lua-join $(median <<<"$r_claim")"
