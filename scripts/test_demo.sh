#!/usr/bin/env bash
# scripts/test_demo.sh - the demo app reproduces the kefu-flask incident against a real MariaDB,
# or Oracle MySQL with DB_FLAVOR=mysql.
#
# Starts a throwaway MariaDB (temp datadir, free loopback port, performance_schema ON, real
# grants from deploy/mysql/init/*.sql), then:
#   leaky run : demo/leaky_app.py must leave exactly 45 `kefu` sessions in Sleep with a RUNNING
#               InnoDB transaction (seen by the least-privileged `exporter` user), tagged
#               program_name=kefu-flask, and must print SQLAlchemy's QueuePool TimeoutError;
#               it must stop cleanly (exit 0) on SIGTERM and its sessions must disappear.
#   fixed run : with --fixed no session stays idle in transaction, no QueuePool error, committed
#               rows exist, and it stops by itself (exit 0) when --duration elapses.
# Prints `N passed, M failed` alone on the last line; exits non-zero on any failure.
#
# Needs: mariadb-server (mariadbd, mariadb-install-db, mariadb client), python3 with venv.
# Creates demo/.venv and installs demo/requirements.txt into it when missing (PyPI).
# MariaDB, the venv and the app are started by scripts/lib/common.sh and scripts/lib/stack.sh,
# the same functions the demo (scripts/demo.sh) and scripts/test_live_stack.sh use.
# Env: KEEP_TMP=1 keeps the temp dir (logs) for inspection.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/stack.sh"

STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/test_demo.XXXXXX")
TMP=$STACK_DIR
[[ "${KEEP_TMP:-0}" == 1 ]] && note "KEEP_TMP=1: logs and datadir stay in $TMP"

EXPORTER_PW=$(cat "$ROOT/deploy/mysql/secrets/exporter_password")
QUEUEPOOL_ERR='QueuePool limit of size 15 overflow 30 reached, connection timed out, timeout 10.00'

finish() {
    local rc=$?
    stack_stop
    [[ "${KEEP_TMP:-0}" == 1 ]] || rm -rf "$TMP"
    return "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# a setup step failed (die): nothing meaningful can be tested
die_hook() { not_ok "setup: $1"; summary; }

# ------------------------------------------------------------------ python venv for the demo
ensure_demo_venv
PY=$DEMO_PY
note "$("$PY" -c 'from importlib.metadata import version as v; print("SQLAlchemy", v("SQLAlchemy"), "PyMySQL", v("PyMySQL"))')"

# ------------------------------------------------------------------ throwaway server
# scripts/lib/common.sh's start_db (DB_FLAVOR: MariaDB or MySQL, performance_schema ON),
# max_connections as in docker-compose.yml; then the users and grants of deploy/mysql/init/*.sql.
DB_OPTS="--max-connections=100" start_db "$TMP/db"
stack_track "$DB_FLAVOR" "$DB_PID" "$TMP/db/error.log"
PORT=$DB_PORT
note "$(db_name) $(root_sql 'SELECT VERSION()') on 127.0.0.1:$PORT (pid $DB_PID)"

# Everything asserted below is read as the `exporter` user over TCP: it also proves that the
# least-privilege grants of deploy/mysql/init/ are enough to see other users' sessions.
exporter_sql() { MYSQL_PWD="$EXPORTER_PW" mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$PORT" -uexporter -N -B -e "$1"; }

load_init_sql
if [ "$DB_FLAVOR" = mysql ]; then
    ok "deploy/mysql/init/01-users.sql loads on MySQL (02-grants-mariadb.sql is MariaDB's only)"
    check "exporter user has exactly PROCESS, REPLICATION CLIENT, SELECT on performance_schema" \
        bash -c '[[ "$1" == *"GRANT PROCESS, REPLICATION CLIENT ON *.*"* ]] && [[ "$1" == *"GRANT SELECT ON \`performance_schema\`.*"* ]] && [[ "$1" != *SUPER* && "$1" != *"ALL PRIVILEGES"* && "$1" != *ADMIN* ]]' _ \
        "$(exporter_sql 'SHOW GRANTS' 2>&1)"
else
    ok "deploy/mysql/init/01-users.sql and 02-grants-mariadb.sql load on MariaDB"
    check "exporter user has exactly PROCESS, REPLICATION CLIENT/BINLOG MONITOR, SLAVE MONITOR, SELECT on performance_schema" \
        bash -c '[[ "$1" == *"GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*"* || "$1" == *"GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.*"* ]] && [[ "$1" == *"GRANT SELECT ON \`performance_schema\`.*"* ]] && [[ "$1" != *SUPER* && "$1" != *"ALL PRIVILEGES"* ]]' _ \
        "$(exporter_sql 'SHOW GRANTS' 2>&1)"
fi

# ------------------------------------------------------------------ the queries
# Sessions of user kefu that are idle (Sleep) while their InnoDB transaction is open: the leak.
IDLE_IN_TRX_SQL="SELECT COUNT(*) FROM information_schema.PROCESSLIST p JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID WHERE p.USER = 'kefu' AND p.COMMAND = 'Sleep' AND t.trx_state = 'RUNNING'"
# The same, only transactions open for 5 s or more (transient ones between statement and commit excluded).
IDLE_IN_TRX_OLD_SQL="$IDLE_IN_TRX_SQL AND t.trx_started <= NOW() - INTERVAL 5 SECOND"
KEFU_SESSIONS_SQL="SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'kefu'"
PROGRAM_NAME_SQL="SELECT COUNT(*) FROM performance_schema.session_connect_attrs a JOIN information_schema.PROCESSLIST p ON p.ID = a.PROCESSLIST_ID WHERE p.USER = 'kefu' AND a.ATTR_NAME = 'program_name' AND a.ATTR_VALUE = 'kefu-flask'"
DETAIL_SQL="SELECT p.USER, p.DB, p.COMMAND, t.trx_state, COUNT(*) AS sessions, MIN(p.TIME) AS min_idle_s, MAX(TIMESTAMPDIFF(SECOND, t.trx_started, NOW())) AS oldest_trx_s, SUM(t.trx_rows_modified) AS rows_modified FROM information_schema.PROCESSLIST p JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID WHERE p.USER = 'kefu' GROUP BY p.USER, p.DB, p.COMMAND, t.trx_state"

# start_leaky_app LOGFILE ARGS... (scripts/lib/stack.sh) runs demo/leaky_app.py as kefu against
# this server, the password from KEFU_PASSWORD.
start_app() { start_leaky_app "$@"; }
wait_exit() { # wait_exit SECONDS -> sets APP_RC (or 124 on timeout)
    local i
    for i in $(seq 1 $(($1 * 10))); do
        kill -0 "$APP_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$APP_PID" 2>/dev/null; then APP_RC=124; else wait "$APP_PID"; APP_RC=$?; stack_untrack "$APP_PID"; fi
}
scalar() { exporter_sql "$1" 2>>"$TMP/sql.err" || echo "ERR"; }

# ------------------------------------------------------------------ leaky run
note "leaky run: --setup --leak-rate 6/s --healthy-rate 3/s (unbounded duration, stopped by SIGTERM)"
note "query: $IDLE_IN_TRX_SQL"
LEAK_LOG="$TMP/leaky.log"
start_app "$LEAK_LOG" --setup --leak-rate 6/s --healthy-rate 3/s --duration 0
n=0
for _ in $(seq 1 60); do
    n=$(scalar "$IDLE_IN_TRX_OLD_SQL")
    [[ "$n" == 45 ]] && break
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 1
done
note "idle-in-transaction kefu sessions (open >= 5 s): $n"
check "leaky: 45 kefu sessions are Sleep with a RUNNING InnoDB transaction" test "$(scalar "$IDLE_IN_TRX_SQL")" == 45
check "leaky: those 45 transactions have been open for >= 5 s" test "$n" == 45
check "leaky: kefu holds exactly 45 sessions (pool_size 15 + max_overflow 30)" test "$(scalar "$KEFU_SESSIONS_SQL")" == 45
check "leaky: all 45 carry connect attribute program_name=kefu-flask" test "$(scalar "$PROGRAM_NAME_SQL")" == 45
note "$DETAIL_SQL"
exporter_sql "$DETAIL_SQL" | sed 's/^/#   /'
for _ in $(seq 1 40); do
    grep -qF "$QUEUEPOOL_ERR" "$LEAK_LOG" && break
    sleep 1
done
check "leaky: app prints '$QUEUEPOOL_ERR'" grep -qF "$QUEUEPOOL_ERR" "$LEAK_LOG"
status_after_error() { # pool status lines logged after the first QueuePool error
    awk -v e="$QUEUEPOOL_ERR" 'index($0, e) {seen=1} seen && /pool checkedout=/ {n++} END {print n+0}' "$LEAK_LOG"
}
for _ in $(seq 1 10); do (($(status_after_error) >= 3)) && break; sleep 1; done
check "leaky: app keeps going after the pool error (3 status lines after it)" test "$(status_after_error)" -ge 3
check "leaky: app is still running" kill -0 "$APP_PID"
check "leaky: app logs pool checkedout=45/45 size=15 overflow=30/30" grep -qF "pool checkedout=45/45 size=15 overflow=30/30" "$LEAK_LOG"
note "app log excerpt:"
grep -F "pool checkedout=45/45" "$LEAK_LOG" | head -1 | sed 's/^/#   /'
grep -F "$QUEUEPOOL_ERR" "$LEAK_LOG" | head -2 | sed 's/^/#   /'
kill -TERM "$APP_PID"
wait_exit 20
check "leaky: SIGTERM stops the app with exit 0 (got $APP_RC)" test "$APP_RC" == 0
check "leaky: app logged its clean stop" grep -q "stopped: requests ok=" "$LEAK_LOG"
left=ERR
for _ in $(seq 1 20); do
    left=$(scalar "$KEFU_SESSIONS_SQL"); [[ "$left" == 0 ]] && break; sleep 0.5
done
check "leaky: no kefu session left after the app stopped ($left)" test "$left" == 0

# ------------------------------------------------------------------ fixed run
note "fixed run: --fixed --leak-rate 6/s --healthy-rate 3/s --duration 25"
FIX_LOG="$TMP/fixed.log"
start_app "$FIX_LOG" --fixed --leak-rate 6/s --healthy-rate 3/s --duration 25
max_old=0; max_any=0; max_sessions=0; samples=0
for _ in $(seq 1 30); do
    kill -0 "$APP_PID" 2>/dev/null || break
    o=$(scalar "$IDLE_IN_TRX_OLD_SQL"); a=$(scalar "$IDLE_IN_TRX_SQL"); s=$(scalar "$KEFU_SESSIONS_SQL")
    [[ "$o" == ERR || "$a" == ERR || "$s" == ERR ]] && { max_old=ERR; break; }
    ((o > max_old)) && max_old=$o; ((a > max_any)) && max_any=$a; ((s > max_sessions)) && max_sessions=$s
    samples=$((samples + 1))
    sleep 1
done
note "fixed: $samples samples; max idle-in-transaction >= 5 s: $max_old, max idle-in-transaction (any age): $max_any, max kefu sessions: $max_sessions"
check "fixed: sampled the running app at least 15 times" test "$samples" -ge 15
check "fixed: no kefu session stays idle in transaction for 5 s" test "$max_old" == 0
check "fixed: kefu never comes near the 45-connection limit (max $max_sessions <= 20)" test "$max_sessions" -le 20
wait_exit 40
check "fixed: app stops by itself when --duration elapses, exit 0 (got $APP_RC)" test "$APP_RC" == 0
check "fixed: no QueuePool error" bash -c '! grep -q "QueuePool limit" "$1"' _ "$FIX_LOG"
check "fixed: no request or visitor failed" grep -qE "stopped: requests ok=[1-9][0-9]* failed=0, visitors saved=[1-9][0-9]* leaked=0 failed=0" "$FIX_LOG"
check "fixed: visitors were committed (rows in kefu.visitors)" \
    test "$(root_sql 'SELECT COUNT(*) > 0 FROM kefu.visitors')" == 1
grep -E "stopped:" "$FIX_LOG" | sed 's/^/#   /'

# ------------------------------------------------------------------ Ctrl-C
INT_LOG="$TMP/sigint.log"
start_app "$INT_LOG" --leak-rate 2/s --healthy-rate 2/s
for _ in $(seq 1 50); do grep -q "pool checkedout=" "$INT_LOG" 2>/dev/null && break; sleep 0.1; done
sleep 2
kill -INT "$APP_PID"
wait_exit 20
check "SIGINT (Ctrl-C) stops the app with exit 0 (got $APP_RC)" test "$APP_RC" == 0
check "SIGINT: no traceback" bash -c '! grep -q Traceback "$1"' _ "$INT_LOG"

if ((FAILED > 0)); then
    note "logs:"; for f in "$LEAK_LOG" "$FIX_LOG" "$INT_LOG"; do note "--- $f (tail)"; tail -15 "$f" | sed 's/^/#   /'; done
fi
summary
