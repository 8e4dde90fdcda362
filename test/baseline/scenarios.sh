#!/usr/bin/env bash
# Replays docs/scenarios.md's seed spikes against the full profile (one fastdeal
# serve on MySQL + Redis) at real speed and compressed, then the strategy
# comparison; every run ends with the load generator's audit. The numbers in
# docs/benchmarks.md come from this script. Usage:
#   test/baseline/scenarios.sh OUTDIR [concert-speeds] [coupon-speeds]
set -euo pipefail
out=${1:?output directory}
concert_speeds=${2:-"20 40 60 80"}
coupon_speeds=${3:-"10 20 40"}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
export FASTDEAL_MYSQL_DSN=${FASTDEAL_MYSQL_DSN:-'root@tcp(127.0.0.1:3306)/fastdeal_bench?parseTime=true'}
export FASTDEAL_REDIS_ADDR=${FASTDEAL_REDIS_ADDR:-127.0.0.1:6379}
db=$(sed -E 's#.*/([^?]+).*#\1#' <<<"$FASTDEAL_MYSQL_DSN")
mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
go build -o bin/fastdeal ./cmd/fastdeal
bin/fastdeal migrate up >/dev/null
FASTDEAL_HTTP_ADDR=127.0.0.1:18100 FASTDEAL_ADMIN_ADDR=127.0.0.1:18101 FASTDEAL_ADMIN_TOKEN=bench \
  FASTDEAL_LOG_LEVEL=warn bin/fastdeal serve >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf 127.0.0.1:18100/readyz >/dev/null && break; sleep 0.2; done
curl -s 127.0.0.1:18100/readyz; echo

load() { # name speed scenario
  bin/fastdeal load "$3" --speed "$2" --target http://127.0.0.1:18100 --admin-token bench \
    --mysql-dsn "$FASTDEAL_MYSQL_DSN" --json "$out/$1.json" --no-progress >"$out/$1.txt" 2>&1
}
report() { printf '%-16s exit %s  ' "$1" "$2"; sed -n 5,6p "$out/$1.txt" | awk '{printf "%s n=%s rps=%s p50=%s p99=%s max=%s 5xx=%s | ", $1,$2,$3,$4,$6,$8,$13}'; grep -E '^audit' "$out/$1.txt"; }

load concert-1x 1 concert-spike && rc=0 || rc=$?; report concert-1x $rc
for r in 1 2 3; do load "coupon-1x-r$r" 1 coupon-rush && rc=0 || rc=$?; report "coupon-1x-r$r" $rc; done
for s in $concert_speeds; do load "concert-${s}x" "$s" concert-spike && rc=0 || rc=$?; report "concert-${s}x" $rc; [ $rc -eq 0 ] || break; done
for s in $coupon_speeds; do load "coupon-${s}x" "$s" coupon-rush && rc=0 || rc=$?; report "coupon-${s}x" $rc; [ $rc -eq 0 ] || break; done
kill $server; wait $server 2>/dev/null || true
bin/fastdeal load --embedded --compare-strategies --speed 5 --mysql-dsn "$FASTDEAL_MYSQL_DSN" --no-progress >"$out/compare.txt" 2>&1 || true
tail -6 "$out/compare.txt"
