#!/usr/bin/env bash
# Fleet benchmark: one exporter, many targets. Starts S throwaway servers on loopback (each
# with a few held application sessions, a tenth idle in a transaction, a tenth in SLEEP), one
# exporter with T targets spread over them (one pool each), plus one target whose port is
# closed (dead) and one whose server is frozen with SIGSTOP partway (hung). Then scrapes as
# Prometheus would: every target's /probe and the whole /metrics each round, concurrently,
# with X-Prometheus-Scrape-Timeout-Seconds. Prints RSS per target, /metrics latency against
# the scrape timeout, whether the hung target is marked down, and the log lines per target
# and problem, each with its target (PASS/MISS). A script, not a timed test.
#
#   bench/fleet.sh [--server mariadb|mysql] [--servers 20] [--targets 100] [--sessions 20]
#                  [--rounds 12] [--interval 5] [--timeout 4] [--no-build] [--binary PATH]
#
# Everything runs on 127.0.0.1 with free ports and throwaway datadirs under /tmp, stopped by
# PID on exit. Installs what is missing with apt-get (mariadb-server, python3-mysqldb). See
# docs/benchmarks.md for the latest results.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

SERVERS=20 TARGETS=100 SESSIONS=20 ROUNDS=12 INTERVAL=5 TIMEOUT=4 BUILD=1 BIN=""
DB_FLAVOR=${DB_FLAVOR:-mariadb}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --server) DB_FLAVOR=${2:?--server needs mariadb or mysql}; shift 2 ;;
        --servers) SERVERS=${2:?--servers needs a number}; shift 2 ;;
        --targets) TARGETS=${2:?--targets needs a number}; shift 2 ;;
        --sessions) SESSIONS=${2:?--sessions needs a number}; shift 2 ;;
        --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
        --interval) INTERVAL=${2:?--interval needs seconds}; shift 2 ;;
        --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --binary) BIN=${2:?--binary needs a path}; BUILD=0; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
for v in SERVERS TARGETS SESSIONS ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,}: a positive number"
done
[[ $INTERVAL =~ ^[0-9]+(\.[0-9]+)?$ && $TIMEOUT =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--interval and --timeout: seconds, e.g. 5 and 4"
[ "$SERVERS" -ge 2 ] || die "--servers: at least 2 (one of them is frozen)"
[ "$TARGETS" -ge $((SERVERS + 1)) ] || die "--targets: at least one a live server, plus the dead one"
[[ $DB_FLAVOR == mariadb || $DB_FLAVOR == mysql ]] || die "--server: mariadb or mysql"

need_packages mariadbd:mariadb-server curl:curl
bench_setup

WORK=$(mktemp -d /tmp/mysql_pool_exporter-fleet.XXXXXX)
DB_PIDS=() HOLDER_PIDS=() EXPORTER_PID="" NAMES="" HUNG=""
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
say "starting $SERVERS $(db_name) servers, $SESSIONS held sessions each"
PORTS=()
for ((i = 0; i < SERVERS; i++)); do
    DB_OPTS="--max-connections=$((SESSIONS + 50))" start_db "$WORK/db$i" 2>/dev/null
    DB_PIDS+=("$DB_PID")
    PORTS+=("$DB_PORT")
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
# Targets round-robin over the live servers; the last server's first target is the one that
# hangs (its server is frozen); one more target points at a closed port.
DEAD_PORT=$(free_port)
HUNG_SERVER=$((SERVERS - 1))
printf '%s\n' "$PW_EXPORTER" >"$WORK/exporter.pw"
{
    echo "targets:"
    for ((t = 0; t < TARGETS - 1; t++)); do
        s=$((t % SERVERS))
        name="db$s-t$t"
        [ "$s" = "$HUNG_SERVER" ] && [ -z "$HUNG" ] && HUNG=$name
        printf '  - name: %s\n    dsn: mysql://exporter@127.0.0.1:%s\n    password_file: exporter.pw\n    tls: { mode: disabled }\n' \
            "$name" "${PORTS[$s]}"
        NAMES+="${NAMES:+,}$name"
    done
    printf '  - name: dead\n    dsn: mysql://exporter@127.0.0.1:%s\n    password_file: exporter.pw\n    tls: { mode: disabled }\n' "$DEAD_PORT"
    echo "pools:"
    for ((t = 0; t < TARGETS - 1; t++)); do
        printf '  - name: app-%s\n    target: db%s-t%s\n    match: { user: app }\n    size: 15\n    max_overflow: 10\n' \
            "$t" "$((t % SERVERS))" "$t"
    done
} >"$WORK/fleet.yml"
NAMES+=",dead"

EXPORTER_PORT=$(free_port)
"$BIN" --config.file="$WORK/fleet.yml" --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
    >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!
WAIT_PID=$EXPORTER_PID WAIT_LOG="$WORK/exporter.log" \
    wait_for "the exporter to be ready" 60 curl -fsS "http://127.0.0.1:$EXPORTER_PORT/-/ready"

printf 'bench/fleet.sh --server %s --servers %s --targets %s --sessions %s --rounds %s --interval %s --timeout %s\n' \
    "$DB_FLAVOR" "$SERVERS" "$TARGETS" "$SESSIONS" "$ROUNDS" "$INTERVAL" "$TIMEOUT"
printf 'machine: %s CPUs (%s), %s GiB RAM, %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)"
printf 'server: %s; ours: %s (%s)\n' "$(root_sql 'SELECT @@version')" "$("$BIN" --version)" "${BIN#"$ROOT"/}"

"$PY" "$HERE/fleet.py" --port "$EXPORTER_PORT" --pid "$EXPORTER_PID" --log "$WORK/exporter.log" \
    --targets "$NAMES" --hung-target "$HUNG" --hung-pid "${DB_PIDS[$HUNG_SERVER]}" \
    --dead-target dead --rounds "$ROUNDS" --interval "$INTERVAL" --timeout "$TIMEOUT"
