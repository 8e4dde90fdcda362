#!/usr/bin/env bash
# Waiting at national scale against the full profile (one fastdeal serve on
# MySQL + Redis): line-flood to N waiting buyers, then SCENARIOS.md's
# national coupon-rush, server-paced and with the seeds' fixed 2-s polls.
# Redis is a dedicated instance (so its memory per waiting buyer is the
# line's alone) and MySQL a fresh database; the numbers in
# docs/benchmarks.md ("Waiting at national scale") come from this script.
# Usage: [FIXED_LIMIT=420s] test/baseline/national.sh OUTDIR [flood|rush|fixed|all] [users]
set -euo pipefail
out=${1:?output directory}
what=${2:-all}
users=${3:-1000000}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
rport=16400
db=fastdeal_national
export FASTDEAL_MYSQL_DSN="root@tcp(127.0.0.1:3306)/$db?parseTime=true"
export FASTDEAL_REDIS_ADDR=127.0.0.1:$rport
export FASTDEAL_LINE_SECRET=national-bench-line-secret-0123456789
export FASTDEAL_ADMIN_TOKEN=bench FASTDEAL_LOG_LEVEL=warn
export FASTDEAL_HTTP_ADDR=127.0.0.1:18100 FASTDEAL_ADMIN_ADDR=127.0.0.1:18101
go build -o bin/fastdeal ./cmd/fastdeal
server=
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  redis-cli -p $rport shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

fresh() { # a new Redis, database and server for each run
  cleanup; server=
  sleep 0.5
  redis-server --port $rport --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --logfile "$out/redis.log" --dir /tmp
  for _ in $(seq 1 50); do redis-cli -p $rport ping >/dev/null 2>&1 && break; sleep 0.1; done
  mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
  bin/fastdeal migrate up >/dev/null
  bin/fastdeal serve >"$out/server-$1.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf 127.0.0.1:18100/readyz >/dev/null && break; sleep 0.2; done
}

common=(--target http://127.0.0.1:18100 --admin-token bench --no-progress
  --metrics-url http://127.0.0.1:18101/metrics --redis 127.0.0.1:$rport)

# Per-process CPU accounting: utime+stime of the server and Redis (clock ticks of 1/100 s).
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

run() { # name args...
  local name=$1; shift
  local rpid s0 r0 t0
  rpid=$(redis-cli -p $rport info server | awk -F: '/process_id/ {print $2}' | tr -d '\r')
  s0=$(cpu "$server"); r0=$(cpu "$rpid"); t0=$(date +%s)
  bin/fastdeal load "$@" "${common[@]}" --json "$out/$name.json" --html "$out/$name.html" >"$out/$name.txt" 2>&1 && rc=0 || rc=$?
  printf '%s: exit %s, %ss wall, CPU seconds: server %s, redis %s\n' "$name" "$rc" \
    "$(( $(date +%s) - t0 ))" "$(awk -v a="$s0" -v b="$(cpu "$server")" 'BEGIN {print (b-a)/100}')" \
    "$(awk -v a="$r0" -v b="$(cpu "$rpid")" 'BEGIN {print (b-a)/100}')" | tee -a "$out/summary.txt"
  grep -E '^(line-flood|coupon-rush|  |audit)' "$out/$name.txt" | head -30 | tee -a "$out/summary.txt"
}

if [[ $what == flood || $what == all ]]; then
  fresh flood
  run flood line-flood --users "$users" --duration 300s --concurrency 64 --sample 10000
fi
if [[ $what == rush || $what == all ]]; then
  fresh rush
  run rush coupon-rush --users "$users" --stock 100000 --admit-rate 2000 --ramp 120s --prequeue 30% --max-inflight 8192
fi
if [[ $what == fixed || $what == all ]]; then
  fresh fixed
  # It need not pass: FIXED_LIMIT (e.g. 420s) stops it early, to see where it broke.
  run fixed coupon-rush --users "$users" --stock 100000 --admit-rate 2000 --ramp 120s --prequeue 30% --fixed-poll 2s --max-inflight 8192 \
    ${FIXED_LIMIT:+--duration "$FIXED_LIMIT"}
fi
