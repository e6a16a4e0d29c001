#!/usr/bin/env bash
# Benchmark: mysql_pool_exporter against Debian's prometheus-mysqld-exporter (0.14, with the
# processlist collector on) and against the raw SQL time of the same statements, on the same
# throwaway server in the same run, with N held client sessions (a tenth idle in a
# transaction, a tenth running SLEEP). Ours runs as shipped: one pool configured with
# per-process accounting (`processes:`), the 1 Hz sampler on. Prints a table per N with the
# ratios ours/theirs, our slowest statement, and the targets of the scaling issue (PASS/MISS)
# at every N from 4 000 on, with our RSS from the smallest N to the largest. A script, not a
# timed test.
#
#   bench/compare.sh [--server mariadb|mysql] [--sessions 100,1000,4000,10000] [--scrapes 50]
#                    [--warmup 5] [--no-build] [--perf DIR]  (perf record of ours at the
#                                       largest N; prints the top entries, keeps the data)
#                    [--binary PATH]   (another build of ours, e.g. other profile settings;
#                                       implies --no-build)
#                    [--ours-flags "FLAGS"]  (extra flags for ours, e.g.
#                                       "--collect.global_variables.interval=60s")
#   --server mysql: Oracle MySQL 9.7 (the chroot scripts/lib/common.sh builds); mysqld_exporter
#   then runs without its slave_status collector (MySQL 9 removed SHOW SLAVE STATUS).
#   (BENCH_KEEP_BODIES=DIR keeps the last exposition of each exporter per N in DIR)
#
# Everything runs on 127.0.0.1 with free ports and a throwaway datadir under /tmp, stopped
# by PID on exit. Installs what is missing with apt-get: prometheus-mysqld-exporter,
# mariadb-server, python3-mysqldb. See docs/benchmarks.md for the latest results.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

SESSIONS=100,1000,4000,10000
SCRAPES=50
PERF_DIR=""
WARMUP=5
BUILD=1
BIN=""
OURS_FLAGS=""
DB_FLAVOR=${DB_FLAVOR:-mariadb}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --sessions) SESSIONS=${2:?--sessions needs a value, e.g. 100,1000,4000}; shift 2 ;;
        --sessions=*) SESSIONS=${1#*=}; shift ;;
        --scrapes) SCRAPES=${2:?--scrapes needs a number}; shift 2 ;;
        --scrapes=*) SCRAPES=${1#*=}; shift ;;
        --warmup) WARMUP=${2:?--warmup needs a number}; shift 2 ;;
        --warmup=*) WARMUP=${1#*=}; shift ;;
        --server) DB_FLAVOR=${2:?--server needs mariadb or mysql}; shift 2 ;;
        --server=*) DB_FLAVOR=${1#*=}; shift ;;
        --no-build) BUILD=0; shift ;;
        --perf) PERF_DIR=${2:?--perf needs a directory}; shift 2 ;;
        --perf=*) PERF_DIR=${1#*=}; shift ;;
        --binary) BIN=${2:?--binary needs a path}; BUILD=0; shift 2 ;;
        --binary=*) BIN=${1#*=}; BUILD=0; shift ;;
        --ours-flags) OURS_FLAGS=${2?--ours-flags needs a value}; shift 2 ;;
        --ours-flags=*) OURS_FLAGS=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $SESSIONS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--sessions: a comma-separated list of counts, e.g. 100,1000,4000"
[[ $SCRAPES =~ ^[1-9][0-9]*$ ]] || die "--scrapes: a positive number"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "--warmup: a number"
[[ $DB_FLAVOR == mariadb || $DB_FLAVOR == mysql ]] || die "--server: mariadb or mysql"
MAX_N=$(tr ',' '\n' <<<"$SESSIONS" | sort -n | tail -1)
if [ -n "$PERF_DIR" ]; then
    command -v perf >/dev/null || die "--perf needs perf (Debian: apt-get install linux-perf)"
    mkdir -p "$PERF_DIR" && PERF_DIR=$(cd "$PERF_DIR" && pwd) || die "--perf: cannot create $PERF_DIR"
fi

# ------------------------------------------------------------------ what it needs
need_packages mariadbd:mariadb-server prometheus-mysqld-exporter:prometheus-mysqld-exporter curl:curl
bench_setup

# One socket per held session, in the holder and in the server: each a process of its own,
# so each needs the sessions plus its other files (the server's table cache: 1 000).
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=65536
[ "$HARD" -gt 65536 ] && HARD=65536
ulimit -n "$HARD"
[ "$HARD" -ge $((MAX_N + 1000 + 100)) ] || die "open-files limit $HARD is too low for $MAX_N sessions"

# ------------------------------------------------------------------ servers
WORK=$(mktemp -d /tmp/mysql_pool_exporter-bench.XXXXXX)
DB_PID="" OURS_PID="" THEIRS_PID=""
db_gone() { ! kill -0 "$DB_PID" 2>/dev/null; }
cleanup() {
    local rc=$?
    stop_pid "$OURS_PID"
    stop_pid "$THEIRS_PID"
    # With thousands of sessions MariaDB's shutdown takes longer than stop_pid waits.
    if [ -n "$DB_PID" ] && kill "$DB_PID" 2>/dev/null; then
        poll_until 120 db_gone || true
    fi
    stop_pid "$DB_PID"
    if [ "$rc" -ne 0 ]; then
        [ "$DB_FLAVOR" = mysql ] && echo "the MySQL server's files: $(readlink -f "$WORK/db")" >&2
        echo "logs kept in $WORK" >&2
    else
        stop_db_dirs
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting $(db_name) (max_connections $((MAX_N + 1000)))"
# MariaDB: its own temp dir for the implicit temporary tables of the benchmark's queries
# (MySQL's start_mysql gives it one inside its chroot).
TMP_OPT=""
if [ "$DB_FLAVOR" = mariadb ]; then
    mkdir -p "$WORK/db-tmp"
    TMP_OPT="--tmpdir=$WORK/db-tmp"
fi
DB_OPTS="$TMP_OPT --max-connections=$((MAX_N + 1000)) --open-files-limit=$HARD --table-open-cache=1000 \
--thread-cache-size=64 --back-log=1000 --max-connect-errors=1000000000 \
--performance-schema-max-thread-instances=$((MAX_N + 1200)) --performance-schema-session-connect-attrs-size=1024" \
    start_db "$WORK/db"
REPLICA_GRANT=""
[ "$DB_FLAVOR" = mariadb ] && REPLICA_GRANT=", SLAVE MONITOR"

PW_OURS=bench-ours-pw PW_THEIRS=bench-theirs-pw PW_RAW=bench-raw-pw PW_APP=bench-app-pw
root_sql <<SQL || die "creating the users failed"
CREATE USER 'pool_exporter'@'127.0.0.1' IDENTIFIED BY '$PW_OURS';
CREATE USER 'mysqld_exporter'@'127.0.0.1' IDENTIFIED BY '$PW_THEIRS';
CREATE USER 'bench_raw'@'127.0.0.1' IDENTIFIED BY '$PW_RAW';
GRANT PROCESS, REPLICATION CLIENT$REPLICA_GRANT ON *.* TO 'pool_exporter'@'127.0.0.1', 'mysqld_exporter'@'127.0.0.1', 'bench_raw'@'127.0.0.1';
GRANT SELECT ON performance_schema.* TO 'pool_exporter'@'127.0.0.1', 'mysqld_exporter'@'127.0.0.1', 'bench_raw'@'127.0.0.1';
-- Ours reads the accounts' own connection limits too (docs/privileges.md): its cost counts.
GRANT SELECT ON mysql.user TO 'pool_exporter'@'127.0.0.1', 'bench_raw'@'127.0.0.1';
$(bench_app_sql "$PW_APP")
SQL

# Ours: one target and one pool matching the app user, so the pool sources
# (client processes, the oldest idle transactions) are queried too.
bench_ours_config "$WORK" "$PW_OURS"
OURS_PORT=$(free_port)
# shellcheck disable=SC2086  # OURS_FLAGS: words on purpose
"$BIN" --config.file="$WORK/ours.yml" --web.listen-address="127.0.0.1:$OURS_PORT" \
    --log.level=warn $OURS_FLAGS >"$WORK/ours.log" 2>&1 &
OURS_PID=$!

# Theirs: Debian's defaults (global_status, global_variables, slave_status,
# info_schema.innodb_cmp, info_schema.innodb_cmpmem, info_schema.query_response_time) plus
# the processlist collector.
THEIRS_PORT=$(free_port)
THEIRS_EXTRA=""
# MySQL 9 removed SHOW SLAVE STATUS: mysqld_exporter's slave_status would fail every scrape.
[ "$DB_FLAVOR" = mysql ] && THEIRS_EXTRA="--no-collect.slave_status"
DATA_SOURCE_NAME="mysqld_exporter:$PW_THEIRS@(127.0.0.1:$DB_PORT)/" \
    prometheus-mysqld-exporter --web.listen-address="127.0.0.1:$THEIRS_PORT" \
    --collect.info_schema.processlist $THEIRS_EXTRA >"$WORK/theirs.log" 2>&1 &
THEIRS_PID=$!

up() { local m; m=$(curl -fsS "http://127.0.0.1:$1/metrics") && grep -Eq '^mysql_up 1(\.0*)?$' <<<"$m"; }
WAIT_PID=$OURS_PID WAIT_LOG="$WORK/ours.log" wait_for "mysql_pool_exporter on :$OURS_PORT" 30 up "$OURS_PORT"
WAIT_PID=$THEIRS_PID WAIT_LOG="$WORK/theirs.log" wait_for "mysqld_exporter on :$THEIRS_PORT" 30 up "$THEIRS_PORT"

# ------------------------------------------------------------------ measure
printf 'bench/compare.sh --server %s --sessions %s --scrapes %s --warmup %s%s\n' "$DB_FLAVOR" "$SESSIONS" "$SCRAPES" "$WARMUP" \
    "${OURS_FLAGS:+ --ours-flags \"$OURS_FLAGS\"}"
printf 'machine: %s CPUs (%s), %s GiB RAM, %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)"
printf 'server: %s\n' "$(root_sql 'SELECT @@version')"
printf 'ours: %s (%s); theirs: %s\n' "$("$BIN" --version)" "${BIN#"$ROOT"/}" \
    "$(prometheus-mysqld-exporter --version 2>&1 | head -1)"
printf 'ours: 1 target, 1 pool (user app): %s\n' "all collectors (global_status, global_variables, processlist, sessions, pools, locks, innodb_metrics)"
printf 'theirs: default collectors + --collect.info_schema.processlist %s\n' "$THEIRS_EXTRA"

BENCH_PERF=$PERF_DIR "$PY" "$HERE/compare.py" --sessions "$SESSIONS" --scrapes "$SCRAPES" --warmup "$WARMUP" \
    --db-port "$DB_PORT" --db-pid "$DB_PID" --db-sock "$DB_SOCK" \
    --ours-pid "$OURS_PID" --ours-url "http://127.0.0.1:$OURS_PORT/metrics" --ours-user pool_exporter \
    --theirs-pid "$THEIRS_PID" --theirs-url "http://127.0.0.1:$THEIRS_PORT/metrics" --theirs-user mysqld_exporter \
    --raw-user bench_raw --raw-password "$PW_RAW" \
    --app-user app --app-password "$PW_APP" --app-db app

for who in ours theirs; do
    if grep -qiE 'level=(error|warn)' "$WORK/$who.log"; then
        printf '\nnote: %s logged warnings/errors:\n' "$who"
        grep -iE 'level=(error|warn)' "$WORK/$who.log" | sort | uniq -c | sort -rn | head -5 | cut -c1-300
    fi
done
grep -iE '\[(ERROR|Warning)\]' "$WORK/db/error.log" | grep -vE 'Aborted connection|ignored in --skip-name-resolve mode' | head -5 | sed "s/^/$DB_FLAVOR: /" || true
