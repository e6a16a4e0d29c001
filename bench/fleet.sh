#!/usr/bin/env bash
# Fleet benchmark: one exporter, many targets. Starts S throwaway servers on loopback (each
# with a few held application sessions, a tenth idle in a transaction, a tenth in SLEEP), one
# exporter with T targets spread over them (several a server, distinct names, one pool each,
# limits.connects_per_server_per_second set), plus one target whose port is closed (dead);
# in round 4 the last server is frozen with SIGSTOP (its targets hang). Then probes as
# Prometheus would: every target's /probe once per --probe-interval, spread evenly over it,
# concurrently (64 threads), plus /metrics of all targets every --metrics-every rounds and the
# status page every round, all with X-Prometheus-Scrape-Timeout-Seconds. Before the freeze
# it counts the exporter's sessions on each server (PROCESSLIST, as root).
#
# Prints, each against the issue's bound (PASS/MISS): RSS per target (<= 0.5 MiB); /probe
# latency p50/p99/max of the live targets (p99 <= 100 ms), and its p99 while a server is
# frozen; one server session per target; start-up: the most connects to one server within
# 1 s (from the log; <= the configured rate + 1), start to /-/ready and to all targets
# connected; /metrics, /, and /?page=2 (past 50 targets) within the scrape timeout; the hung
# target marked down; the log lines per target and problem. Also the sampler interval in
# force and the exporter's CPU. Exits 0 when all pass, 3 when something missed, 1 on error.
# A script, not a timed test.
#
#   bench/fleet.sh [--server mariadb|mysql] [--servers 20] [--targets 100] [--sessions 20]
#                  [--rounds 12] [--probe-interval 15] [--timeout 4] [--metrics-every 1]
#                  [--connect-rate 10] [--no-build] [--binary PATH]
#
# --interval is another name for --probe-interval. --targets counts the dead target too.
# Time (estimates, 2 cores): the defaults about 4 min (servers ~1 min, 12 rounds of 15 s);
# --targets 1000 --servers 25 about 5 min and ~5 GiB of RAM (25 servers), open files for
# 2 x targets + 256 (raised to the hard limit, else it stops and says so).
#
# Everything runs on 127.0.0.1 with free ports and throwaway datadirs under /tmp, stopped by
# PID on exit. Installs what is missing with apt-get (mariadb-server, python3-mysqldb). See
# docs/benchmarks.md for the latest results.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

SERVERS=20 TARGETS=100 SESSIONS=20 ROUNDS=12 INTERVAL=15 TIMEOUT=4 METRICS_EVERY=1
CONNECT_RATE=10 BUILD=1 BIN=""
DB_FLAVOR=${DB_FLAVOR:-mariadb}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --server) DB_FLAVOR=${2:?--server needs mariadb or mysql}; shift 2 ;;
        --servers) SERVERS=${2:?--servers needs a number}; shift 2 ;;
        --targets) TARGETS=${2:?--targets needs a number}; shift 2 ;;
        --sessions) SESSIONS=${2:?--sessions needs a number}; shift 2 ;;
        --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
        --probe-interval|--interval) INTERVAL=${2:?$1 needs seconds}; shift 2 ;;
        --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
        --metrics-every) METRICS_EVERY=${2:?--metrics-every needs a number of rounds}; shift 2 ;;
        --connect-rate) CONNECT_RATE=${2:?--connect-rate needs connects a second}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --binary) BIN=${2:?--binary needs a path}; BUILD=0; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
for v in SERVERS TARGETS SESSIONS ROUNDS METRICS_EVERY CONNECT_RATE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$(tr '_' '-' <<<"${v,,}"): a positive whole number"
done
[[ $INTERVAL =~ ^[0-9]+(\.[0-9]+)?$ && $TIMEOUT =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--probe-interval and --timeout: seconds, e.g. 15 and 4"
[ "$ROUNDS" -ge 5 ] || die "--rounds: at least 5 (a server is frozen in round 4)"
[ "$SERVERS" -ge 2 ] || die "--servers: at least 2 (one of them is frozen)"
[ "$TARGETS" -ge $((SERVERS + 1)) ] || die "--targets: at least one a live server, plus the dead one"
[[ $DB_FLAVOR == mariadb || $DB_FLAVOR == mysql ]] || die "--server: mariadb or mysql"

need_packages mariadbd:mariadb-server curl:curl
bench_setup

# Open files: the exporter holds a connection to its server and (as Prometheus scrapes) one
# from its scraper per target; the servers and holders inherit the limit too.
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=65536
[ "$NOFILE" -gt 65536 ] && NOFILE=65536
NEED_FILES=$((TARGETS * 2 + 256))
[ "$NOFILE" -ge "$NEED_FILES" ] \
    || die "open-files hard limit (ulimit -Hn) is $NOFILE: $TARGETS targets need about $NEED_FILES (2 a target + 256); raise it (limits.conf, systemd LimitNOFILE, prlimit) or pass fewer --targets"
ulimit -n "$NOFILE" || die "cannot raise the open-files limit to $NOFILE (ulimit -n)"
# Each server: its targets' sessions, the held ones, and slack (root, page reads).
PER_SERVER=$(((TARGETS - 1 + SERVERS - 1) / SERVERS))
MAX_CONNECTIONS=$((PER_SERVER + SESSIONS + 50))

WORK=$(mktemp -d /tmp/mysql_pool_exporter-fleet.XXXXXX)
DB_PIDS=() HOLDER_PIDS=() EXPORTER_PID="" HUNG=""
cleanup() {
    local rc=$? pid
    stop_pid "$EXPORTER_PID"
    for pid in "${HOLDER_PIDS[@]}"; do stop_pid "$pid"; done
    for pid in "${DB_PIDS[@]}"; do
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${DB_PIDS[@]}"; do stop_pid "$pid"; done
    stop_db_dirs
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
        echo "logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ servers
PW_EXPORTER=fleet-exporter-pw PW_APP=fleet-app-pw
REPLICA_GRANT=""
[ "$DB_FLAVOR" = mariadb ] && REPLICA_GRANT=", SLAVE MONITOR"
say "starting $SERVERS $(db_name) servers, $SESSIONS held sessions and up to $PER_SERVER targets each (max_connections $MAX_CONNECTIONS)"
PORTS=()
: >"$WORK/servers.tsv"
for ((i = 0; i < SERVERS; i++)); do
    DB_OPTS="--max-connections=$MAX_CONNECTIONS" start_db "$WORK/db$i" 2>/dev/null
    DB_PIDS+=("$DB_PID")
    PORTS+=("$DB_PORT")
    printf '%s\t%s\t%s\t%s\n' "$i" "$DB_PORT" "$DB_SOCK" "$DB_PID" >>"$WORK/servers.tsv"
    root_sql <<SQL || die "creating the users on server $i failed"
CREATE USER 'exporter'@'127.0.0.1' IDENTIFIED BY '$PW_EXPORTER';
GRANT PROCESS, REPLICATION CLIENT$REPLICA_GRANT ON *.* TO 'exporter'@'127.0.0.1';
GRANT SELECT ON performance_schema.* TO 'exporter'@'127.0.0.1';
GRANT SELECT ON mysql.user TO 'exporter'@'127.0.0.1';
$(bench_app_sql "$PW_APP")
SQL
    # The holder grows to SESSIONS and keeps them until its stdin closes (at exit).
    mkfifo "$WORK/hold$i"
    "$PY" "$HERE/hold_sessions.py" --port "$DB_PORT" --user app --password "$PW_APP" --db app \
        <"$WORK/hold$i" >"$WORK/hold$i.out" 2>&1 &
    HOLDER_PIDS+=($!)
    exec {fd}>"$WORK/hold$i"
    echo "$SESSIONS" >&"$fd"
done
for ((i = 0; i < SERVERS; i++)); do
    WAIT_PID=${HOLDER_PIDS[$i]} WAIT_LOG="$WORK/hold$i.out" \
        wait_for "$SESSIONS sessions on server $i" 60 grep -q "^ready $SESSIONS" "$WORK/hold$i.out"
done

# ------------------------------------------------------------------ the exporter
# Targets round-robin over the servers (several a server, distinct names); the last server
# is frozen, its first target is the one whose marking down is checked; one more target
# points at a closed port. targets.tsv: name and server index (-1: none) for fleet.py.
DEAD_PORT=$(free_port)
HUNG_SERVER=$((SERVERS - 1))
printf '%s\n' "$PW_EXPORTER" >"$WORK/exporter.pw"
: >"$WORK/targets.tsv"
{
    printf 'limits:\n  connects_per_server_per_second: %s\n' "$CONNECT_RATE"
    echo "targets:"
    for ((t = 0; t < TARGETS - 1; t++)); do
        s=$((t % SERVERS))
        name="db$s-t$t"
        [ "$s" = "$HUNG_SERVER" ] && [ -z "$HUNG" ] && HUNG=$name
        printf '  - name: %s\n    dsn: mysql://exporter@127.0.0.1:%s\n    password_file: exporter.pw\n    tls: { mode: disabled }\n' \
            "$name" "${PORTS[$s]}"
        printf '%s\t%s\n' "$name" "$s" >>"$WORK/targets.tsv"
    done
    printf '  - name: dead\n    dsn: mysql://exporter@127.0.0.1:%s\n    password_file: exporter.pw\n    tls: { mode: disabled }\n' "$DEAD_PORT"
    echo "pools:"
    for ((t = 0; t < TARGETS - 1; t++)); do
        printf '  - name: app-%s\n    target: db%s-t%s\n    match: { user: app }\n    size: 15\n    max_overflow: 10\n' \
            "$t" "$((t % SERVERS))" "$t"
    done
} >"$WORK/fleet.yml"
printf 'dead\t-1\n' >>"$WORK/targets.tsv"

EXPORTER_PORT=$(free_port)
STARTED=$(date +%s.%N)
"$BIN" --config.file="$WORK/fleet.yml" --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
    >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!
WAIT_PID=$EXPORTER_PID WAIT_LOG="$WORK/exporter.log" \
    wait_for "the exporter to be ready" 60 curl -fsS "http://127.0.0.1:$EXPORTER_PORT/-/ready"
READY_AT=$(date +%s.%N)

printf 'bench/fleet.sh --server %s --servers %s --targets %s --sessions %s --rounds %s --probe-interval %s --timeout %s --metrics-every %s --connect-rate %s\n' \
    "$DB_FLAVOR" "$SERVERS" "$TARGETS" "$SESSIONS" "$ROUNDS" "$INTERVAL" "$TIMEOUT" "$METRICS_EVERY" "$CONNECT_RATE"
printf 'machine: %s CPUs (%s), %s GiB RAM, %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)"
printf 'server: %s; ours: %s (%s)\n' "$(root_sql 'SELECT @@version')" "$("$BIN" --version)" "${BIN#"$ROOT"/}"

printf 'open files: %s (needed ~%s); max_connections %s a server\n' "$(ulimit -n)" "$NEED_FILES" "$MAX_CONNECTIONS"

"$PY" "$HERE/fleet.py" --port "$EXPORTER_PORT" --pid "$EXPORTER_PID" --log "$WORK/exporter.log" \
    --targets-file "$WORK/targets.tsv" --servers-file "$WORK/servers.tsv" \
    --hung-target "$HUNG" --hung-server "$HUNG_SERVER" --dead-target dead \
    --started "$STARTED" --ready-at "$READY_AT" --connect-rate "$CONNECT_RATE" \
    --rounds "$ROUNDS" --interval "$INTERVAL" --timeout "$TIMEOUT" --metrics-every "$METRICS_EVERY"
