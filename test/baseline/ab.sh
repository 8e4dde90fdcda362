#!/usr/bin/env bash
# Durable open claims of two fastdeal binaries, alternated: each serves the
# full profile on a fresh database of its own (one Redis), and each round
# runs wrk -t1 -c64 (claim.lua) against A then B on new drops, printing
# test/baseline/cpu.sh's line per run and each ledger's batch sizes last.
# Usage: test/baseline/ab.sh A_BINARY B_BINARY [rounds]   (SECS=5 per run)
# B_SQL, when set, runs against B's database after its migration: the same
# binary twice with B_SQL compares two schemas (docs/benchmarks.md, "Fifth
# round").
set -euo pipefail
a=${1:?binary A}; b=${2:?binary B}; rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
export FASTDEAL_REDIS_ADDR=${FASTDEAL_REDIS_ADDR:-127.0.0.1:6379} SECS=${SECS:-5} WRK_THREADS=1
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
start() { # binary database port
  mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $2; CREATE DATABASE $2"
  local dsn="root@tcp(127.0.0.1:3306)/$2?parseTime=true"
  FASTDEAL_MYSQL_DSN=$dsn "$1" migrate up >/dev/null
  FASTDEAL_MYSQL_DSN=$dsn FASTDEAL_HTTP_ADDR=127.0.0.1:$3 FASTDEAL_ADMIN_ADDR=127.0.0.1:$(($3 + 1)) \
    FASTDEAL_ADMIN_TOKEN=bench FASTDEAL_LOG_LEVEL=warn "$1" serve >"/tmp/fastdeal-ab-$3.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$3/readyz" >/dev/null && return; sleep 0.2; done
  echo "ab.sh: $1 did not become ready on :$3" >&2; exit 1
}
start "$a" fastdeal_ab_a 18500
start "$b" fastdeal_ab_b 18510
if [ -n "${B_SQL:-}" ]; then mariadb -h 127.0.0.1 -u root fastdeal_ab_b -e "$B_SQL"; fi
mk() { curl -sf -X POST "$1/v1/admin/drops" -H "Authorization: Bearer bench" \
  -d "{\"id\":\"$2\",\"name\":\"bench\",\"kind\":\"general\",\"stock\":10000000}" >/dev/null; }
uptime
for _ in $(seq 1 "$rounds"); do
  t=$(date +%s%N)
  mk http://127.0.0.1:18500 "a$t"; mk http://127.0.0.1:18510 "b$t"
  "$here/cpu.sh" "A $(basename "$a")" "${pids[0]}" -s "$here/claim.lua" "http://127.0.0.1:18500/v1/drops/a$t/claims"
  "$here/cpu.sh" "B $(basename "$b")" "${pids[1]}" -s "$here/claim.lua" "http://127.0.0.1:18510/v1/drops/b$t/claims"
done
for p in 18501 18511; do
  echo ":$p $(curl -s "127.0.0.1:$p/metrics" -H 'Authorization: Bearer bench' |
    awk '/^fastdeal_ledger_batch_size_sum/ {s=$2} /^fastdeal_ledger_batch_size_count/ {c=$2} END {printf "%d issuances in %d batches, %.1f a batch", s, c, (c ? s/c : 0)}')"
done
