#!/usr/bin/env bash
# scripts/demo.sh — the whole kefu-flask incident on one machine, without Docker.
#
# Starts, on 127.0.0.1 with throwaway data under a temp dir: MariaDB, or Oracle MySQL 9.7 with
# DB_FLAVOR=mysql (performance_schema ON, deploy/mysql/init/*.sql), mysql_pool_exporter (deploy/exporter.yml), Alertmanager
# (deploy/alertmanager.yml, its webhooks caught by a local sink) and Prometheus
# (deploy/prometheus.yml with alerting-rules/) — the files docker-compose.yml mounts, with
# only addresses and paths substituted. Then runs demo/leaky_app.py, whose background thread
# never calls db.session.remove(), and shows:
#   1. the pool filling up and MySQLPoolExhausted / MySQLIdleInTransaction going from pending
#      to firing in Prometheus and active in Alertmanager (their `for:` is 1m: a few minutes),
#      and the app's own count of its pool (OpenTelemetry, scraped as job kefu-flask-app)
#      beside the exporter's: 45 used in the app, 45 idle in transaction on the server;
#   2. `mysql_pool_exporter check` naming the pool (exit 2, CRITICAL);
#   3. `kill-idle` as a dry run, then — the app frozen so it cannot leak more — with --execute
#      under an admin account: the 45 leaked sessions are killed;
#   4. the fix deployed (leaky_app.py --fixed): the pool stays low, the alerts resolve and
#      `check` is OK again.
# Everything is stopped by PID at the end (or on Ctrl-C); --keep leaves it running until Ctrl-C.
# Exit status non-zero when an expected alert never fires, recovery does not happen, or a
# step behaves otherwise than described: the demo doubles as an end-to-end check.
#
# Installs missing Debian packages (mariadb-server, mariadb-client, prometheus,
# prometheus-alertmanager, python3-venv) with apt-get (DB_FLAVOR=mysql: also a Debian sid
# chroot with mysql-server-core, built once by debootstrap), builds the exporter (cargo build
# --release; EXPORTER_BIN=path skips that) and creates demo/.venv from PyPI if missing.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/stack.sh"

usage() {
    cat <<EOF
usage: scripts/demo.sh [--keep] [--timeout SECONDS] [--leak-rate N/s]

  --keep             leave everything running at the end, until Ctrl-C
  --timeout SECONDS  how long to wait for the alerts to fire, and for recovery (default 300)
  --leak-rate N/s    leaked sessions per second (default 2/s: the pool is full in ~25 s)

Env: KEEP_TMP=1 keeps the temp dir (data, logs); EXPORTER_BIN=path uses that binary instead
of building one.
EOF
}

KEEP=0
TIMEOUT=300
LEAK_RATE=2/s
while [ $# -gt 0 ]; do
    case $1 in
        --keep) KEEP=1 ;;
        --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
        --leak-rate) LEAK_RATE=${2:?--leak-rate needs N/s}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout wants a number of seconds, got '$TIMEOUT'"

ALERTS=(MySQLPoolExhausted MySQLIdleInTransaction MySQLPoolNearExhaustion)
PROBLEMS=()
problem() { PROBLEMS+=("$1"); printf '!!! %s\n' "$1"; }
indent() { sed 's/^/    /'; }

STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mysql_pool_demo.XXXXXX")
finish() {
    local rc=$?
    trap - INT TERM
    stack_stop
    if [ "$rc" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
        [ "$rc" -ne 0 ] && stack_show_logs
        printf 'temp dir kept: %s\n' "$STACK_DIR" >&2
    else
        rm -rf "$STACK_DIR"
    fi
    exit "$rc"
}
trap finish EXIT
trap 'printf "\ninterrupted\n" >&2; exit 130' INT TERM

# ------------------------------------------------------------------ setup
say "Installing what is missing, building the exporter"
stack_need_packages
build_exporter
ensure_demo_venv
echo "    $("$EXPORTER_BIN" --version), $(prometheus --version 2>&1 | head -1), $(prometheus-alertmanager --version 2>&1 | head -1)"

say "Starting $(db_name) (DB_FLAVOR=$DB_FLAVOR; performance_schema ON; users and grants from deploy/mysql/init/*.sql)"
stack_start_db
echo "    $(root_sql 'SELECT VERSION()') on 127.0.0.1:$DB_PORT, max_connections=$(root_sql 'SELECT @@max_connections')"

say "Starting mysql_pool_exporter with deploy/exporter.yml (pool kefu-flask: user kefu, db kefu, 15+30 connections)"
stack_exporter_configs
start_exporter
echo "    $EXPORTER_URL/metrics  (config: $EXPORTER_CONFIG)"

say "Starting Alertmanager (deploy/alertmanager.yml) and Prometheus (deploy/prometheus.yml, alerting-rules/)"
start_webhook_sink
start_alertmanager
start_prometheus
wait_for "Prometheus' first scrape of the exporter" 30 prom_value "up{job=\"mysql\"} == 1"
echo "    Prometheus scrapes the exporter every 5s and evaluates the rules every 5s"
echo
echo "  Open while the demo runs:"
stack_urls
echo

# ------------------------------------------------------------------ the incident
say "Starting the leaky kefu-flask app: async_save_visitor never calls db.session.remove()"
APP_LOG="$STACK_DIR/leaky_app.log"
start_leaky_app "$APP_LOG" --setup --leak-rate "$LEAK_RATE" --healthy-rate 3/s
STACK_T0=$(date +%s)
echo "    demo/leaky_app.py --leak-rate $LEAK_RATE --healthy-rate 3/s   (log: $APP_LOG)"
echo "    every visitor leaves one pooled connection as 'Sleep' with an open transaction"
echo

say "Waiting for MySQLPoolExhausted and MySQLIdleInTransaction to fire in Alertmanager (timeout ${TIMEOUT}s)"
cat <<'EOF'
    MySQLPoolExhausted      held / capacity >= 1 for 1m (mysql_pool_utilization_ratio) (critical)
    MySQLIdleInTransaction  a pool transaction idle in Sleep for > 30s, for 1m         (warning)
    MySQLPoolNearExhaustion utilization > 0.8 for 5m: stays pending here, and once it
                            fires Alertmanager inhibits it (the pool is already exhausted)
    [m:ss since the leak started | the pool, from the exporter's /metrics | alerts in Prometheus | in Alertmanager]
EOF
if watch_until "$TIMEOUT" 5 "${ALERTS[*]}" am_active MySQLPoolExhausted MySQLIdleInTransaction; then
    echo
    echo "  Alertmanager now shows:"
    stack_py am-alerts "$AM_URL" | indent
    # group_wait of the critical route is 10s: the page arrives shortly after.
    poll_until 30 grep -q '"receiver": "critical"' "$SINK_FILE" || true
    echo "  Notifications delivered to the receivers' webhooks:"
    stack_py notifications "$SINK_FILE" | indent || echo "    (none yet)"
    echo "  Meanwhile the app itself says:"
    grep -m1 -F 'QueuePool limit' "$APP_LOG" | cut -c1-200 | indent
    echo "  Both ends in Prometheus: the app's own metrics (OpenTelemetry) beside the exporter's:"
    two_ends | indent
    echo "    (every connection the app has checked out is a session idle in a transaction: the leak, seen from both ends)"
else
    problem "MySQLPoolExhausted and MySQLIdleInTransaction did not both fire in Alertmanager within ${TIMEOUT}s"
    stack_py am-alerts "$AM_URL" | indent
    exit 1
fi
echo

# ------------------------------------------------------------------ check
say "mysql_pool_exporter check --config.file exporter.yml   (what the on-call runs first)"
"$EXPORTER_BIN" check --config.file "$EXPORTER_CONFIG" --log.level warn 2>&1 | indent
rc=${PIPESTATUS[0]}
echo "    -> exit code $rc (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"
[ "$rc" = 2 ] || problem "check exited $rc, expected 2 (CRITICAL)"
echo

# ------------------------------------------------------------------ kill-idle
say "kill-idle --pool $POOL --idle-in-transaction-older-than 30s   (dry run, the exporter's read-only account)"
"$EXPORTER_BIN" kill-idle --config.file "$EXPORTER_CONFIG" --pool "$POOL" \
    --idle-in-transaction-older-than 30s --log.level warn >"$STACK_DIR/kill-idle-dry.log" 2>&1
rc=$?
# 45 victims: show a few
head -4 "$STACK_DIR/kill-idle-dry.log" | cut -c1-200 | indent
echo "    ... ($(grep -c 'would kill' "$STACK_DIR/kill-idle-dry.log") sessions listed)"
tail -1 "$STACK_DIR/kill-idle-dry.log" | indent
[ "$rc" = 0 ] || problem "kill-idle (dry run) exited $rc"
echo

say "Freezing the leaky app (SIGSTOP): its 45 connections stay open, as in a wedged process, but it takes no new ones"
pause_app
echo "    (in production: take the instance out of rotation while the fix rolls out)"
echo

say "kill-idle ... --execute   (admin account '$DBA_USER' with CONNECTION ADMIN, config: $ADMIN_CONFIG)"
"$EXPORTER_BIN" kill-idle --config.file "$ADMIN_CONFIG" --pool "$POOL" \
    --idle-in-transaction-older-than 30s --execute --log.level warn >"$STACK_DIR/kill-idle-execute.log" 2>&1
rc=$?
head -4 "$STACK_DIR/kill-idle-execute.log" | cut -c1-200 | indent
echo "    ... ($(grep -c '  killed ' "$STACK_DIR/kill-idle-execute.log") sessions killed)"
tail -1 "$STACK_DIR/kill-idle-execute.log" | indent
[ "$rc" = 0 ] || problem "kill-idle --execute exited $rc"
echo "    kefu sessions left in $(db_name): $(root_sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'kefu'")"
echo

say "Waiting for Prometheus to see the pool empty and the alerts to resolve (timeout ${TIMEOUT}s)"
recovered() {
    [ "$(prom_value "sum(mysql_pool_sessions{job=\"mysql\",pool=\"$POOL\"})")" = 0 ] &&
        prom_absent "${ALERTS[@]}" && am_absent "${ALERTS[@]}"
}
if watch_until "$TIMEOUT" 5 "${ALERTS[*]}" recovered; then
    echo "    resolved: Prometheus has no pool alert pending or firing, Alertmanager lists none"
else
    problem "the pool alerts did not resolve within ${TIMEOUT}s of kill-idle --execute"
fi
echo

# ------------------------------------------------------------------ the fix
say "Deploying the fix: leaky app stopped, demo/leaky_app.py --fixed started (commit + db.session.remove())"
stop_app
FIXED_LOG="$STACK_DIR/fixed_app.log"
start_leaky_app "$FIXED_LOG" --fixed --leak-rate "$LEAK_RATE" --healthy-rate 3/s
echo "    same traffic, same leak rate (log: $FIXED_LOG); watching it for 30s:"
watch_until 30 10 "${ALERTS[*]}" false
echo "    the app: $(grep -F 'pool checkedout=' "$FIXED_LOG" | tail -1 | sed 's/.*\] //' | cut -c1-160)"
echo "    both ends in Prometheus: $(two_ends)"
util=$(prom_value "max_over_time(mysql_pool_utilization_ratio{job=\"mysql\",pool=\"$POOL\"}[30s])")
awk -v u="$util" 'BEGIN { exit !(u < 0.5) }' || problem "the fixed app still fills the pool (utilization up to $util in 30s)"
prom_absent "${ALERTS[@]}" || problem "a pool alert is pending or firing with the fixed app"
echo

say "mysql_pool_exporter check, after the fix"
"$EXPORTER_BIN" check --config.file "$EXPORTER_CONFIG" --log.level warn 2>&1 | indent
rc=${PIPESTATUS[0]}
echo "    -> exit code $rc"
[ "$rc" = 0 ] || problem "check exited $rc after the fix, expected 0 (OK)"
echo

# ------------------------------------------------------------------ end
if [ ${#PROBLEMS[@]} -gt 0 ]; then
    say "The demo did not go as described:"
    printf '    %s\n' "${PROBLEMS[@]}"
    exit 1
fi
say "Done in $(( $(date +%s) - STACK_T0 ))s since the leak started: leak -> alerts -> check -> kill-idle -> fix -> resolved"
if [ "$KEEP" = 1 ]; then
    echo "  Everything keeps running (Ctrl-C stops it):"
    stack_urls
    trap 'printf "\nstopping\n" >&2; exit 0' INT TERM
    while :; do sleep 1; done
fi
