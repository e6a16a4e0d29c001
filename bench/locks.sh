#!/usr/bin/env bash
# Benchmark: what reading the lock tables costs the server. With N held sessions (a tenth
# idle in a transaction, a tenth running), the server's CPU per scrape of ours with nobody
# waiting, then with W sessions in one metadata-lock queue (an ALTER TABLE behind an idle
# transaction, W - 1 queries behind the ALTER). On MariaDB twice: without a metadata-lock
# table (its default: the holder is inferred) and with the metadata_lock_info plugin; on
# MySQL with performance_schema.metadata_locks (its default). A script, not a timed test.
#
#   bench/locks.sh [--server mariadb|mysql] [--sessions 4000] [--waiting 100] [--scrapes 30]
#                  [--no-build] [--binary PATH]
#
# Everything on 127.0.0.1, throwaway datadir, stopped by PID. Results: docs/benchmarks.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

SESSIONS=4000 WAITING=100 SCRAPES=30 BUILD=1 BIN=""
DB_FLAVOR=${DB_FLAVOR:-mariadb}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --sessions) SESSIONS=${2:?}; shift 2 ;;
        --waiting) WAITING=${2:?}; shift 2 ;;
        --scrapes) SCRAPES=${2:?}; shift 2 ;;
        --server) DB_FLAVOR=${2:?}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --binary) BIN=${2:?}; BUILD=0; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $SESSIONS =~ ^[0-9]+$ && $WAITING =~ ^[1-9][0-9]*$ && $SCRAPES =~ ^[1-9][0-9]*$ ]] \
    || die "--sessions, --waiting and --scrapes take numbers"
[[ $DB_FLAVOR == mariadb || $DB_FLAVOR == mysql ]] || die "--server: mariadb or mysql"

need_packages mariadbd:mariadb-server curl:curl
bench_setup
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=65536
[ "$HARD" -gt 65536 ] && HARD=65536
ulimit -n "$HARD"
TOTAL=$((SESSIONS + WAITING + 100))
[ "$HARD" -ge $((TOTAL * 4 + 1000)) ] || die "open-files limit $HARD is too low for $TOTAL sessions"

WORK=$(mktemp -d /tmp/mysql_pool_exporter-locks.XXXXXX)
DB_PID="" OURS_PID=""
db_gone() { ! kill -0 "$DB_PID" 2>/dev/null; }
cleanup() {
    local rc=$?
    stop_pid "$OURS_PID"
    if [ -n "$DB_PID" ] && kill "$DB_PID" 2>/dev/null; then poll_until 120 db_gone || true; fi
    stop_pid "$DB_PID"
    if [ "$rc" -eq 0 ]; then stop_db_dirs; rm -rf "$WORK"; else echo "logs kept in $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TMP_OPT=""
if [ "$DB_FLAVOR" = mariadb ]; then mkdir -p "$WORK/db-tmp"; TMP_OPT="--tmpdir=$WORK/db-tmp"; fi
DB_OPTS="$TMP_OPT --max-connections=$((TOTAL * 2 + 100)) --open-files-limit=$HARD --table-open-cache=1000 \
--thread-cache-size=64 --back-log=1000 --max-connect-errors=1000000000 \
--performance-schema-max-thread-instances=$((TOTAL + 300)) --performance-schema-session-connect-attrs-size=1024" \
    start_db "$WORK/db"
PW_OURS=bench-ours-pw PW_APP=bench-app-pw
root_sql <<SQL || die "creating the users failed"
CREATE USER 'pool_exporter'@'127.0.0.1' IDENTIFIED BY '$PW_OURS';
GRANT PROCESS ON *.* TO 'pool_exporter'@'127.0.0.1';
GRANT SELECT ON performance_schema.* TO 'pool_exporter'@'127.0.0.1';
$(bench_app_sql "$PW_APP")
CREATE TABLE app.q (id INT PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO app.q VALUES (1);
GRANT ALTER ON app.* TO 'app'@'127.0.0.1';
SQL
bench_ours_config "$WORK" "$PW_OURS"

up() { local m; m=$(curl -fsS "http://127.0.0.1:$1/metrics") && grep -Eq '^mysql_up 1(\.0*)?$' <<<"$m"; }
# start_ours — a fresh exporter (it detects the lock tables when it connects).
start_ours() {
    stop_pid "$OURS_PID"
    OURS_PORT=$(free_port)
    "$BIN" --config.file="$WORK/ours.yml" --web.listen-address="127.0.0.1:$OURS_PORT" \
        --log.level=warn >"$WORK/ours.log" 2>&1 &
    OURS_PID=$!
    WAIT_PID=$OURS_PID WAIT_LOG="$WORK/ours.log" wait_for "mysql_pool_exporter" 30 up "$OURS_PORT"
}
# run LABEL — one measurement with the exporter as it is now.
run() {
    "$PY" "$HERE/locks.py" --sessions "$SESSIONS" --waiting "$WAITING" --scrapes "$SCRAPES" \
        --url "http://127.0.0.1:$OURS_PORT/metrics" --db-pid "$DB_PID" --db-port "$DB_PORT" \
        --db-sock "$DB_SOCK" --app-user app --app-password "$PW_APP" --app-db app --label "$1"
    # The queue's ALTER may have completed once its holders left: undo it for the next run.
    root_sql "ALTER TABLE app.q DROP COLUMN IF EXISTS w" >/dev/null 2>&1 \
        || root_sql "ALTER TABLE app.q DROP COLUMN w" >/dev/null 2>&1 || true
}

printf 'bench/locks.sh --server %s --sessions %s --waiting %s --scrapes %s\n' \
    "$DB_FLAVOR" "$SESSIONS" "$WAITING" "$SCRAPES"
printf 'machine: %s CPUs, server %s, ours %s\n' "$(nproc)" "$(root_sql 'SELECT @@version')" "$("$BIN" --version)"
start_ours
if [ "$DB_FLAVOR" = mariadb ]; then
    run "MariaDB, no metadata-lock table (its default: holder inferred)"
    root_sql "INSTALL SONAME 'metadata_lock_info'"
    start_ours
    run "MariaDB, metadata_lock_info plugin"
else
    run "MySQL, performance_schema.metadata_locks (its default)"
fi
