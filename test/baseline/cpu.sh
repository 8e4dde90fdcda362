#!/usr/bin/env bash
# CPU time per request of each process in one wrk run: the server under test,
# redis-server, mariadbd and wrk itself, from utime+stime in /proc/<pid>/stat
# before and after (wrk's from /usr/bin/time), divided by the requests
# answered. On two saturated cores the rate is about 2 cores divided by the
# total, and these figures move far less with the neighbours than rates do;
# Redis's and MariaDB's include whatever else those shared servers did.
#
# Usage: test/baseline/cpu.sh NAME SERVER_PID wrk-args...
#   WRK_THREADS (2), WRK_CONNS (64), SECS (8); REDIS_PID and MYSQL_PID
#   default to the redis-server on port 6379 and the mariadbd of @@pid_file.
set -euo pipefail
name=${1:?name}; spid=${2:?server pid}; shift 2
rpid=${REDIS_PID:-$(redis-cli -p 6379 info server | awk -F: '/^process_id/ {print $2+0}')}
mpid=${MYSQL_PID:-$(cat "$(mariadb -h 127.0.0.1 -u root -N -e 'SELECT @@pid_file')")}
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
s0=$(cpu "$spid"); r0=$(cpu "$rpid"); m0=$(cpu "$mpid")
out=$({ /usr/bin/time -f "WRKCPU %U %S" wrk -t"${WRK_THREADS:-2}" -c"${WRK_CONNS:-64}" -d"${SECS:-8}s" --latency "$@"; } 2>&1)
s1=$(cpu "$spid"); r1=$(cpu "$rpid"); m1=$(cpu "$mpid")
awk -v n="$name" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v m=$((m1 - m0)) -v t="$tick" '
  /requests in/ {req = $1} /Requests\/sec/ {rps = int($2)} / 99%/ {p99 = $2}
  /Non-2xx/ {bad = $NF} /WRKCPU/ {w = $2 + $3}
  END {
    if (req == 0) { print n ": no requests answered"; exit 1 }
    printf "%-22s %7d req/s p99 %-9s non-2xx %-6d us a request: app %5.1f redis %5.1f mysql %5.1f wrk %5.1f total %5.1f\n",
      n, rps, p99, bad, s/t*1e6/req, r/t*1e6/req, m/t*1e6/req, w*1e6/req, (s/t + r/t + m/t + w)*1e6/req
  }' <<<"$out"
