#!/usr/bin/env bash
# CPU cost of each request kind on the full profile (fastdeal serve on MySQL +
# Redis), per process: for each phase it reads utime+stime of the fastdeal
# server, redis-server and mariadbd from /proc/PID/stat before and after, and
# the load client's from /usr/bin/time, and divides by the requests answered.
# docs/capacity.md turns the table it prints into instances, Redis shards and
# MySQL write rates for named sales.
#
# Each run starts from an empty Redis and database and a new server; its
# phases, in this order, each on drops of its own:
#   status (ticket)  wrk -s status_ticket.lua, TICKET_USERS buyers joined to a
#                    paused queued drop first (`baseline -tickets`), polls
#                    answered from the line snapshot
#   join             wrk -s join.lua into the same paused line (a new buyer
#                    per request)
#   status (no tkt)  wrk -s status.lua: positions of join.lua's first buyers,
#                    each a Redis round trip
#   claim            wrk -s claim.lua on an open general drop: a new buyer per
#                    request, 201 only once committed to MySQL
#   admission        ADMIT_USERS buyers joined to a paused queued general drop
#                    with as many units, then unpaused at ADMIT_RATE/s: CPU per
#                    admitted buyer (the dispatcher's peek, claim, decide and
#                    ledger record) from the unpause until the last issuance
#                    is committed. No load client runs; the script reads
#                    /metrics every 0.2 s to see the end.
#   idle             no load for the phase's seconds, before and after a
#                    seated drop of SEATS seats (default 100,000) is created:
#                    what holding such a drop costs each process per second
#   claim (seat)     wrk -s claim_seat.lua on that seated drop, after one
#                    warm-up claim: a new buyer and a free seat per request,
#                    201 once committed. On a quiet machine 10 s can take all
#                    100,000 seats (a drop holds at most that many); the
#                    claims past them answer 409, show in the non2xx column,
#                    and `baseline -capacity` leaves such a phase out.
#   concerts         CONCERTS seated drops (default 50) of CONCERT_SEATS seats
#                    (default 50,000) are created: idle again, then
#                    wrk -s claim_concerts.lua spreads seat claims over them
#                    (CONCERTS=0 skips this)
#
# By default the script starts everything it measures, so that no one else's
# work lands in the figures: its own redis-server (REDIS_PORT, default 6391,
# no persistence), its own mariadbd (MYSQL_PORT, default 3391, a fresh datadir
# under OUTDIR, innodb_flush_log_at_trx_commit=1, binlog off, 128 MiB buffer
# pool: the shared server's settings) and a fastdeal serve on 127.0.0.1:18400.
# MYSQL=shared uses the machine's MariaDB at 127.0.0.1:3306 instead (database
# fastdeal_capacity); its CPU then includes whatever else uses it.
# To measure a server started elsewhere, set TARGET (base URL), METRICS (its
# /metrics URL), SERVER_PID, REDIS_PID and MYSQL_PID, and TOKEN; it is not
# restarted between runs, so later runs carry the drops of earlier ones.
#
# Every phase also records the load average (uptime) before it and the CPU
# the rest of the machine used during it ("others", from /proc/stat).
#
# Usage: test/baseline/capacity.sh OUTDIR [runs] [seconds]
# Needs wrk, redis-server, mariadbd (mariadb-install-db) and GNU time.
set -euo pipefail
out=${1:?output directory}
runs=${2:-3}
secs=${3:-10}
ticket_users=${TICKET_USERS:-20000}
admit_users=${ADMIT_USERS:-50000}
admit_rate=${ADMIT_RATE:-100000}
seats=${SEATS:-100000}
concerts=${CONCERTS:-50}
concert_seats=${CONCERT_SEATS:-50000}
rport=${REDIS_PORT:-6391}
mport=${MYSQL_PORT:-3391}
mkdir -p "$out"
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
for c in wrk redis-server redis-cli mariadb /usr/bin/time curl; do
  command -v "$c" >/dev/null || { echo "capacity.sh: $c is missing" >&2; exit 1; }
done
tck=$(getconf CLK_TCK)
export TICKETS=$out/tickets

server= rpid= mpid= own_mysql=
stop_server() {
  [ -n "$server" ] || return 0
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
}
cleanup() {
  stop_server
  if [ -z "${TARGET:-}" ]; then
    redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
    [ -z "$own_mysql" ] || mariadb-admin -h 127.0.0.1 -P "$mport" -u root shutdown 2>/dev/null || true
  fi
}
trap cleanup EXIT

go build -o "$out/baseline" "$here"
if [ -n "${TARGET:-}" ]; then
  url=$TARGET metrics=${METRICS:?METRICS: the /metrics URL} token=${TOKEN:?TOKEN: admin token}
  server_pid=${SERVER_PID:?} rpid=${REDIS_PID:?} mpid=${MYSQL_PID:?}
  fresh() { :; }
else
  go build -o bin/fastdeal ./cmd/fastdeal
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --logfile "$out/redis.log" --dir /tmp --pidfile "$out/redis.pid"
  for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  rpid=$(redis-cli -p "$rport" info server | awk -F: '/^process_id/ {print $2}' | tr -d '\r')
  if [ "${MYSQL:-own}" = shared ]; then
    sql=(mariadb -h 127.0.0.1 -u root) db=fastdeal_capacity
    export FASTDEAL_MYSQL_DSN="root@tcp(127.0.0.1:3306)/$db?parseTime=true"
    mpid=$(pidof mariadbd | awk '{print $1}')
  else
    own_mysql=1
    rm -rf "$out/mysql"
    mariadb-install-db --no-defaults --datadir="$out/mysql" --user=root \
      --auth-root-authentication-method=normal --skip-test-db >"$out/mysql-install.log" 2>&1
    mariadbd --no-defaults --datadir="$out/mysql" --user=root --port="$mport" --bind-address=127.0.0.1 \
      --socket="$out/mysql.sock" --pid-file="$out/mysql.pid" --skip-log-bin \
      --innodb-flush-log-at-trx-commit=1 --innodb-buffer-pool-size=128M \
      --log-error="$out/mysql.err" &
    sql=(mariadb -h 127.0.0.1 -P "$mport" -u root) db=fastdeal
    for _ in $(seq 1 100); do "${sql[@]}" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
    export FASTDEAL_MYSQL_DSN="root@tcp(127.0.0.1:$mport)/$db?parseTime=true"
    mpid=$(cat "$out/mysql.pid")
  fi
  export FASTDEAL_REDIS_ADDR=127.0.0.1:$rport FASTDEAL_ADMIN_TOKEN=bench FASTDEAL_LOG_LEVEL=warn
  export FASTDEAL_LINE_SECRET=capacity-bench-line-secret-0123456789
  export FASTDEAL_HTTP_ADDR=127.0.0.1:18400 FASTDEAL_ADMIN_ADDR=127.0.0.1:18401
  url=http://127.0.0.1:18400 metrics=http://127.0.0.1:18401/metrics token=bench
  # fresh: each run gets an empty Redis, an empty database and a new server,
  # so that no run pays for the drops of the runs before it (every instance's
  # dispatcher re-reads all drops, seats included, every second).
  fresh() {
    stop_server
    redis-cli -p "$rport" flushall >/dev/null
    "${sql[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
    bin/fastdeal migrate up >/dev/null
    bin/fastdeal serve >>"$out/server.log" 2>&1 &
    server=$!
    server_pid=$server
    for _ in $(seq 1 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.2; done
    curl -sf "$url/readyz" >/dev/null || { echo "capacity.sh: server not ready, see $out/server.log" >&2; exit 1; }
  }
fi
echo "redis-server pid $rpid, mariadbd pid $mpid, CLK_TCK $tck, $(nproc) cores," \
  "FASTDEAL_MYSQL_DSN=${FASTDEAL_MYSQL_DSN:-(target)} FASTDEAL_REDIS_ADDR=${FASTDEAL_REDIS_ADDR:-(target)}" | tee "$out/setup.txt"

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# busy clock ticks of the whole machine: user nice system irq softirq steal
busy() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat; }
metric() { curl -sf "$metrics" | awk -v m="$1" '$1 == m {v = $2} END {printf "%d\n", v}'; }
admin() { curl -sf -X "$1" "$url/v1/admin/drops$2" -H "Authorization: Bearer $token" -d "$3" >/dev/null; }
now() { date +%s.%N; }

# A phase: begin KIND; the load; end KIND REQUESTS NON2XX CLIENT_CPU_SECONDS (or -).
# Each row of $out/phases.tsv: run kind requests non2xx wall_s req_s
#   app_us redis_us mysql_us client_us others_cores load1 batches rows
begin() {
  load1=$(cut -d' ' -f1 /proc/loadavg)
  echo "run $run, before $1: $(uptime)" >>"$out/uptime.txt"
  b0=$(batches) w0=$(written)
  s0=$(ticks "$server_pid") r0=$(ticks "$rpid") m0=$(ticks "$mpid") a0=$(busy) t0=$(now)
}
batches() { metric fastdeal_ledger_batches_total; }
written() { metric fastdeal_ledger_written_total; }
end() {
  local kind=$1 n=$2 bad=$3 client=$4
  local s1 r1 m1 a1 t1
  s1=$(ticks "$server_pid") r1=$(ticks "$rpid") m1=$(ticks "$mpid") a1=$(busy) t1=$(now)
  local b1 w1
  b1=$(batches) w1=$(written)
  awk -v run="$run" -v kind="$kind" -v n="$n" -v bad="$bad" -v c="$client" -v tck="$tck" \
    -v s="$((s1 - s0))" -v r="$((r1 - r0))" -v m="$((m1 - m0))" -v a="$((a1 - a0))" \
    -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v load1="$load1" \
    -v bt="$((b1 - b0))" -v wr="$((w1 - w0))" 'BEGIN {
      us = 1e6 / tck / n
      others = (a - s - r - m) / tck - (c == "-" ? 0 : c)
      printf "%s\t%s\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.1f\t%.1f\t%s\t%.2f\t%s\t%d\t%d\n", run, kind, n, bad, wall, n / wall,
        s * us, r * us, m * us, (c == "-" ? "-" : sprintf("%.1f", c * 1e6 / n)), others / wall, load1, bt, wr
    }' | tee -a "$out/phases.tsv"
}

# wrk_phase KIND wrk-args...: runs wrk -t2 -c64 for $secs under GNU time.
wrk_phase() {
  local kind=$1
  shift
  begin "$kind"
  /usr/bin/time -f '%U %S' -o "$out/time.txt" wrk -t2 -c64 -d"${secs}s" "$@" >"$out/wrk.txt"
  local n bad client
  n=$(awk '/requests in/ {print $1}' "$out/wrk.txt")
  bad=$(awk '/Non-2xx/ {print $NF}' "$out/wrk.txt")
  client=$(awk '{print $1 + $2}' "$out/time.txt")
  end "$kind" "$n" "${bad:-0}" "$client"
  cat "$out/wrk.txt" >>"$out/wrk-$run.txt"
}

# seated ID SEATS: creates an open seated drop with seats S1..SEATS.
seated() {
  seq 1 "$2" | awk -v id="$1" '
    BEGIN {printf "{\"id\":\"%s\",\"name\":\"capacity\",\"kind\":\"seated\",\"seats\":[", id}
    {printf "%s\"S%d\"", (NR > 1 ? "," : ""), $1}
    END {print "]}"}' >"$out/seated.json"
  curl -sf -X POST "$url/v1/admin/drops" -H "Authorization: Bearer $token" --data-binary @"$out/seated.json" >/dev/null
}

# idle KIND: no load for $secs; CPU per second of each process, in cores.
idle() {
  begin "$1"
  sleep "$secs"
  local s1 r1 m1 t1
  s1=$(ticks "$server_pid") r1=$(ticks "$rpid") m1=$(ticks "$mpid") t1=$(now)
  awk -v run="$run" -v kind="$1" -v tck="$tck" -v s="$((s1 - s0))" -v r="$((r1 - r0))" -v m="$((m1 - m0))" \
    -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v load1="$load1" 'BEGIN {
      printf "%s\t%s\t%.2f\t%.3f\t%.3f\t%.3f\t%s\n", run, kind, wall, s / tck / wall, r / tck / wall, m / tck / wall, load1
    }' | tee -a "$out/idle.tsv"
}

printf 'run\tkind\twall_s\tapp_cores\tredis_cores\tmysql_cores\tload1\n' >"$out/idle.tsv"
printf 'run\tkind\trequests\tnon2xx\twall_s\treq_s\tapp_us\tredis_us\tmysql_us\tclient_us\tothers_cores\tload1\tbatches\trows\n' | tee "$out/phases.tsv"
for run in $(seq 1 "$runs"); do
  fresh
  drop="cap-$(date +%s)-$run"
  admin POST "" "{\"id\":\"$drop\",\"name\":\"capacity\",\"kind\":\"general\",\"stock\":10000000,\"admission\":\"queued\",\"paused\":true}"
  admin POST "" "{\"id\":\"$drop-open\",\"name\":\"capacity\",\"kind\":\"general\",\"stock\":10000000}"
  admin POST "" "{\"id\":\"$drop-adm\",\"name\":\"capacity\",\"kind\":\"general\",\"stock\":$admit_users,\"admission\":\"queued\",\"paused\":true}"
  "$out/baseline" -tickets "$url/v1/drops/$drop/line" -users "$ticket_users" -prefix "k$run-" -out "$TICKETS"
  wrk_phase "status (ticket)" -s "$here/status_ticket.lua" "$url/v1/drops/$drop/line/me"
  wrk_phase "join" -s "$here/join.lua" "$url/v1/drops/$drop/line"
  wrk_phase "status (no ticket)" -s "$here/status.lua" "$url/v1/drops/$drop/line/me"
  wrk_phase "claim" -s "$here/claim.lua" "$url/v1/drops/$drop-open/claims"

  # admission: fill the line, let the server settle, then unpause at a high rate
  "$out/baseline" -tickets "$url/v1/drops/$drop-adm/line" -users "$admit_users" -prefix "a$run-" -out "$out/admit-tickets"
  sleep 2
  begin admission
  admin PATCH "/$drop-adm" "{\"paused\":false,\"admit_rate\":$admit_rate}"
  deadline=$(( $(date +%s) + 600 ))
  while (( $(written) - w0 < admit_users )); do
    (( $(date +%s) < deadline )) || { echo "capacity.sh: admission did not finish in 10 minutes" >&2; exit 1; }
    sleep 0.2
  done
  end admission "$admit_users" 0 -
  curl -sf "$url/v1/admin/drops/$drop-adm/stats" -H "Authorization: Bearer $token" >"$out/admission-stats-$run.json"
  grep -q '"line_length":0' "$out/admission-stats-$run.json" || { echo "capacity.sh: admission left buyers in line" >&2; exit 1; }

  # Seated claims last: a seated drop costs every instance a re-read of its
  # seats every second (the dispatcher's list of drops, and the drop cache
  # when claimed), which the idle rows measure without and with it.
  idle "idle, general drops only"
  seated "$drop-seat" "$seats"
  idle "idle, + a seated drop of $seats seats"
  # One claim first: wrk's 64 first claims would otherwise all miss the
  # drop cache at once and each read and parse the whole seat list.
  curl -sf -X POST "$url/v1/drops/$drop-seat/claims" -H "X-User-ID: warm-$run" -d '{"seat":"S'"$seats"'"}' >/dev/null
  SEATS=$seats wrk_phase "claim (seat)" -s "$here/claim_seat.lua" "$url/v1/drops/$drop-seat/claims"

  if (( concerts > 0 )); then
    for i in $(seq 1 "$concerts"); do seated "$drop-c$i" "$concert_seats"; done
    idle "idle, + $concerts seated drops of $concert_seats seats"
    for i in $(seq 1 "$concerts"); do
      curl -sf -X POST "$url/v1/drops/$drop-c$i/claims" -H "X-User-ID: warm-$run-$i" -d '{"seat":"S'"$concert_seats"'"}' >/dev/null
    done
    CONCERT_PREFIX="$drop-c" CONCERTS=$concerts SEATS=$concert_seats \
      wrk_phase "claim (seat), $concerts drops" -s "$here/claim_concerts.lua" "$url/v1/drops/$drop-c1/claims"
  fi
done
stop_server

# Medians per kind, each column on its own.
awk -F'\t' 'NR > 1 {
    k = $2; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
    cnt[k]++; for (c = 3; c <= 12; c++) v[k, c, cnt[k]] = $c
    v[k, 15, cnt[k]] = ($13 > 0 ? sprintf("%.0f", $14 / $13) : "-")
  }
  function med(k, c,   n, i, j, t, a) {
    n = cnt[k]; for (i = 1; i <= n; i++) a[i] = v[k, c, i]
    if (a[1] == "-") return "-"
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n/2] + a[n/2 + 1]) / 2
  }
  END {
    printf "\nmedian of %d runs (CPU microseconds per request, per process)\n", cnt[order[1]]
    printf "%-26s %10s %9s %8s %8s %8s %8s %8s %9s %10s\n", "kind", "requests", "req/s", "app", "redis", "mysql", "client", "others", "load1", "rows/batch"
    for (i = 1; i <= nk; i++) { k = order[i]
      printf "%-26s %10s %9s %8s %8s %8s %8s %8s %9s %10s\n", k, med(k, 3), med(k, 6), med(k, 7), med(k, 8), med(k, 9), med(k, 10), med(k, 11), med(k, 12), med(k, 15)
    }
  }' "$out/phases.tsv" | tee "$out/summary.txt"
awk -F'\t' 'NR > 1 {k = $2; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
    cnt[k]++; for (c = 4; c <= 6; c++) v[k, c, cnt[k]] = $c }
  function med(k, c,   n, i, j, t, a) {
    n = cnt[k]; for (i = 1; i <= n; i++) a[i] = v[k, c, i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n/2] + a[n/2 + 1]) / 2
  }
  END {
    printf "\nidle, median of %d runs (CPU cores used with no load)\n", cnt[order[1]]
    printf "%-40s %8s %8s %8s\n", "state", "app", "redis", "mysql"
    for (i = 1; i <= nk; i++) { k = order[i]; printf "%-40s %8s %8s %8s\n", k, med(k, 4), med(k, 5), med(k, 6) }
  }' "$out/idle.tsv" | tee -a "$out/summary.txt"
