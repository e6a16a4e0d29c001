#!/usr/bin/env bash
# scripts/test_live_stack.sh — the connection leak of the incident demo/leaky_app.py replays,
# run against the real stack, must light up every dashboard panel and really fire the alerts.
# (Every panel query parsing and returning data is the dashboards' PromQL check: no other
# script parses their PromQL.)
#
# Starts with scripts/lib/stack.sh (the functions scripts/demo.sh uses), on 127.0.0.1 with
# throwaway data: MariaDB (performance_schema ON, deploy/mysql/init/*.sql), the exporter
# (deploy/exporter.yml), Alertmanager (deploy/alertmanager.yml, webhooks to a local sink) and
# Prometheus (deploy/prometheus.yml + alerting-rules/): the files docker-compose.yml mounts,
# with only addresses and paths substituted, never copies. For the dashboards' checks across
# servers, a second exporter watches the same server as a second instance (`replica`, same
# job, the pools kefu-flask and reports: scripts/lib/stack.sh start_replica_exporter), its
# scrape job appended to the Prometheus config. Then runs demo/leaky_app.py (the
# async_save_visitor leak) and asserts, on real data:
#   - Prometheus: mysql_pool_utilization_ratio{pool="kefu-flask"} 1 and
#     mysql_pool_sessions{pool="kefu-flask",state="idle_in_transaction"} 45 (also on /metrics);
#     the scrape target up with an empty lastError;
#   - the app's own view (OpenTelemetry, job kefu-flask-app): its target up, and
#     mysql_pool:app_used_connections{pool="kefu-flask"} 45, the exporter's held sessions;
#   - MySQLPoolExhausted and MySQLIdleInTransaction firing in Prometheus, active in
#     Alertmanager, routed to the critical / warning receivers, the page delivered;
#   - every dashboard panel query (scripts/dashboard_queries.py --run, every instance and pool)
#     succeeds and returns data, with the instance label on every series of a per-server query
#     and the pool label on every series of a per-pool one, and both instances and both pools
#     where data is required (not one: an aggregation that drops the instance returns one);
#   - the overview's first row, as Grafana repeats it per instance and pool: kefu-flask on
#     primary and on replica held = capacity (45) with a non-zero idle_in_transaction band;
#     drawn with Prometheus' graph page in headless Chromium, the PNGs kept in
#     target/live-stack-screenshots/$DB_FLAVOR/ (LIVE_SCREENSHOTS=DIR puts them elsewhere);
#   - `check` exits 2, its first line the verdict (pool, cause: leak); `kill-idle` (dry run)
#     lists exactly the 45 leaked
#     sessions and kills nothing;
#   - no other alert fires; with LIVE_INHIBITION=1 also: MySQLPoolNearExhaustion (for: 5m)
#     fires in Prometheus and Alertmanager inhibits it by MySQLPoolExhausted (off by default to
#     keep CI short: scripts/test-alerting.sh checks that inhibition on a live Alertmanager);
#   - with the app frozen (SIGSTOP, so it cannot refill the pool), `kill-idle --execute` under
#     an admin account kills exactly the 45, the pool metric drops to 0 within a few scrapes
#     and the alerts resolve.
# The rules' `for:` durations are not shortened (the files are used as they are): the test
# waits for them, about 2.5 minutes (6 with LIVE_INHIBITION=1, for NearExhaustion's 5m).
#
# Prints one "ok - ..." / "not ok - ..." line per assertion, "# ..." progress, and ends with
# "N passed, M failed" alone on the last line; exits non-zero on any failure.
# Env: DEMO_FIXED=--fixed runs the fixed app instead (then the test must fail: nothing fires);
# KEEP_TMP=1 keeps the temp dir; EXPORTER_BIN=path uses that binary instead of cargo build.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$ROOT/scripts/lib/stack.sh"

LEAK_RATE=5/s                      # the pool (45) is full after ~9 s
FILL_TIMEOUT=60                    # leak start -> Prometheus sees 45/45
FIRE_TIMEOUT=150                   # pool full -> both alerts active in Alertmanager (for: 1m + 30s idle)
NEAR_TIMEOUT=400                   # leak start -> MySQLPoolNearExhaustion firing (for: 5m)
PROGRESS_PREFIX="# "
PROGRESS_ALERTS="MySQLPoolExhausted MySQLIdleInTransaction MySQLPoolNearExhaustion"
SEL="job=\"mysql\",instance=\"primary\",pool=\"$POOL\""   # instance: deploy/prometheus.yml's relabeling

STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/test_live_stack.XXXXXX")
# On failure (or KEEP_TMP=1) the temp dir stays, and its logs are listed before the summary.
finish() {
    local rc=$?
    stack_stop
    [ "$FAILED" -gt 0 ] || [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$STACK_DIR"
    return "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
show_logs() { stack_show_logs 2>&1 | sed 's/^/# /'; for f in "$@"; do note "    $f"; done; }
die_hook() { not_ok "setup: $1"; show_logs; summary; }

# ------------------------------------------------------------------ the stack
stack_need_packages
need_packages chromium:chromium
build_exporter
ensure_demo_venv
# start_stack, with the second exporter before Prometheus (its scrape job needs the port).
stack_start_db
stack_exporter_configs
start_exporter
start_replica_exporter
start_webhook_sink
start_alertmanager
PROM_EXTRA_SCRAPE=$(replica_scrape_config) start_prometheus
ok "stack started from deploy/exporter.yml, deploy/prometheus.yml (promtool check config), deploy/alertmanager.yml (amtool check-config), alerting-rules/, deploy/mysql/init/*.sql; a second exporter as instance replica"
note "$(db_name) 127.0.0.1:$DB_PORT, exporter $EXPORTER_URL (primary), $REPLICA_URL (replica), Prometheus $PROM_URL, Alertmanager $AM_URL"

APP_LOG="$STACK_DIR/leaky_app.log"
# shellcheck disable=SC2086
start_leaky_app "$APP_LOG" --setup --leak-rate "$LEAK_RATE" --healthy-rate 3/s ${DEMO_FIXED:-}
STACK_T0=$(date +%s)
note "demo/leaky_app.py --leak-rate $LEAK_RATE --healthy-rate 3/s ${DEMO_FIXED:-} (pid $APP_PID)"

prom_is() { [ "$(prom_value "$1" 2>/dev/null)" = "$2" ]; }   # EXPR VALUE
UTIL="mysql_pool_utilization_ratio{$SEL}"
IDLE_TRX="mysql_pool_sessions{$SEL,state=\"idle_in_transaction\"}"
filled() { prom_is "$UTIL" 1 && prom_is "$IDLE_TRX" 45; }

# ------------------------------------------------------------------ the pool fills
watch_until "$FILL_TIMEOUT" 5 "$PROGRESS_ALERTS" filled
check "Prometheus: $UTIL is 1 (got $(prom_value "$UTIL" 2>&1))" prom_is "$UTIL" 1
check "Prometheus: $IDLE_TRX is 45 (got $(prom_value "$IDLE_TRX" 2>&1))" prom_is "$IDLE_TRX" 45
check "exporter /metrics: mysql_pool_utilization_ratio{pool=\"$POOL\"} 1" \
    test "$(exporter_metric mysql_pool_utilization_ratio pool="$POOL")" = 1
check "exporter /metrics: mysql_pool_sessions{pool=\"$POOL\",state=\"idle_in_transaction\"} 45" \
    test "$(exporter_metric mysql_pool_sessions pool="$POOL" state=idle_in_transaction)" = 45
health=$(stack_py target-health "$PROM_URL" mysql 2>&1)
check "Prometheus targets of job=mysql (primary, replica) are up with an empty lastError (got: $(printf '%s' "$health" | tr '\t\n' '| '))" \
    test "$(printf '%s\n' "$health" | cut -f1,2 | sort | uniq -c | tr -s ' ')" = $' 2 up\t'

# ------------------------------------------------------------------ the app's own view
# The app counts its checked-out connections (OpenTelemetry); the exporter counts the
# sessions that hold a slot on the server. During the leak both must say 45, joined by name.
APP_USED="mysql_pool:app_used_connections{pool=\"$POOL\"}"
HELD="sum by (pool) (mysql_pool_held_sessions{$SEL})"
APP_MINUS_HELD="$APP_USED - on (pool) group_left $HELD"
app_agrees() { prom_is "$APP_USED" 45 && prom_is "$APP_MINUS_HELD" 0; }
poll_until 30 app_agrees
app_health=$(stack_py target-health "$PROM_URL" kefu-flask-app 2>&1)
check "Prometheus target job=kefu-flask-app (the app's OpenTelemetry metrics) is up (got: $(printf '%s' "$app_health" | tr '\t\n' '| '))" \
    test "$(printf '%s\n' "$app_health" | cut -f1,2)" = $'up\t'
check "Prometheus: the app's $APP_USED is 45 (got $(prom_value "$APP_USED" 2>&1))" prom_is "$APP_USED" 45
check "Prometheus: $APP_MINUS_HELD is 0: the app and the server count the same 45 (got $(prom_value "$APP_MINUS_HELD" 2>&1))" \
    prom_is "$APP_MINUS_HELD" 0
note "$(two_ends)"

# ------------------------------------------------------------------ the alerts fire
note "waiting up to ${FIRE_TIMEOUT}s for MySQLPoolExhausted (>= 1 for 1m) and MySQLIdleInTransaction (> 30s, for 1m) in Alertmanager"
watch_until "$FIRE_TIMEOUT" 15 "$PROGRESS_ALERTS" am_active MySQLPoolExhausted MySQLIdleInTransaction
state_is() { [[ "$("$@" 2>/dev/null)" == "$EXPECT" ]]; }
EXPECT=firing check "Prometheus: MySQLPoolExhausted{pool=\"$POOL\",instance=\"primary\"} firing" \
    state_is prom_alert_state MySQLPoolExhausted pool="$POOL" instance=primary
EXPECT=firing check "Prometheus: MySQLIdleInTransaction{pool=\"$POOL\",instance=\"primary\"} firing" \
    state_is prom_alert_state MySQLIdleInTransaction pool="$POOL" instance=primary
EXPECT="active receivers=critical" check "Alertmanager: MySQLPoolExhausted{pool=\"$POOL\",instance=\"primary\"} active, routed to receiver critical" \
    state_is am_alert_state MySQLPoolExhausted pool="$POOL" instance=primary severity=critical
EXPECT="active receivers=warning" check "Alertmanager: MySQLIdleInTransaction{pool=\"$POOL\",instance=\"primary\"} active, routed to receiver warning" \
    state_is am_alert_state MySQLIdleInTransaction pool="$POOL" instance=primary severity=warning
FIRED=0
am_active MySQLPoolExhausted && FIRED=1
paged() { stack_py notifications "$SINK_FILE" | grep -q 'MySQLPoolExhausted -> receiver critical (firing)'; }
if ((FIRED)); then
    check "the critical receiver's webhook got MySQLPoolExhausted (group_wait 10s)" poll_until 30 paged
else
    not_ok "the critical receiver's webhook got MySQLPoolExhausted (skipped: the alert never fired)"
fi
stack_py am-alerts "$AM_URL" 2>&1 | sed 's/^/#   /'

# ------------------------------------------------------------------ every dashboard panel has data
# As a user opens them: job mysql, every instance and every pool. A per-server query must
# return both instances, a per-pool one both pools (kefu-flask on both, reports on replica).
DASH_LOG="$STACK_DIR/dashboard_queries.log"
python3 "$ROOT/scripts/dashboard_queries.py" --var job=mysql --min-distinct instance=2 --min-distinct pool=2 \
    --run "$PROM_URL" >"$DASH_LOG" 2>&1
rc=$?
grep -E '^(FAIL|empty)' "$DASH_LOG" | sed 's/^/#   /'
check "every dashboard panel query runs and returns data, both instances and both pools kept apart: $(tail -1 "$DASH_LOG") (job=mysql, instance and pool All)" test "$rc" = 0

# The overview's first row, as Grafana repeats it: one graph per instance and pool.
FIRST_ROW_LOG="$STACK_DIR/first_row.log"
OVERVIEW="$ROOT/dashboards/mysql-connection-saturation.json"
stack_py first-row "$PROM_URL" "$OVERVIEW" --job mysql --pool "$POOL" --instance primary --instance replica >"$FIRST_ROW_LOG" 2>&1
rc=$?
sed 's/^/#   /' "$FIRST_ROW_LOG"
check "overview first row: $POOL on primary and on replica shows held = capacity with an idle_in_transaction band" test "$rc" = 0
SHOTS_DIR=${LIVE_SCREENSHOTS:-$ROOT/target/live-stack-screenshots/$DB_FLAVOR}
rm -f "$SHOTS_DIR"/first-row-*.png "$SHOTS_DIR"/first-row-*.url
SHOTS_LOG="$STACK_DIR/screenshots.log"
stack_py screenshots "$PROM_URL" "$OVERVIEW" "$SHOTS_DIR" --job mysql --pool "$POOL" --instance primary --instance replica >"$SHOTS_LOG" 2>&1
rc=$?
sed 's/^/#   /' "$SHOTS_LOG"
check "overview first row drawn by Prometheus' graph page in headless Chromium: $SHOTS_DIR/first-row-*.png" test "$rc" = 0

# ------------------------------------------------------------------ check, kill-idle dry run
CHECK_LOG="$STACK_DIR/check.log"
"$EXPORTER_BIN" check --config.file "$EXPORTER_CONFIG" --log.level warn >"$CHECK_LOG" 2>&1
rc=$?
sed 's/^/#   /' "$CHECK_LOG" | head -12
check "check exits 2 (CRITICAL) (got $rc)" test "$rc" = 2
check "check's first line is the verdict: the pool, the cause (leak), the held slots" \
    grep -Eq '^MYSQL POOL CRITICAL - kefu-flask: leak, 45 sessions idle in transaction \(oldest [0-9]+s\), 45/45 held; look at ' <(head -1 "$CHECK_LOG")

kefu_sessions() { root_sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'kefu'"; }
DRY_LOG="$STACK_DIR/kill-idle-dry.log"
"$EXPORTER_BIN" kill-idle --config.file "$EXPORTER_CONFIG" --pool "$POOL" \
    --idle-in-transaction-older-than 30s --log.level warn >"$DRY_LOG" 2>&1
rc=$?
tail -1 "$DRY_LOG" | sed 's/^/#   /'
check "kill-idle dry run exits 0 (got $rc)" test "$rc" = 0
check "kill-idle dry run lists exactly 45 sessions (got $(grep -c 'would kill' "$DRY_LOG"))" \
    test "$(grep -c 'would kill' "$DRY_LOG")" = 45
check "kill-idle dry run kills nothing: kefu still has 45 sessions (got $(kefu_sessions))" test "$(kefu_sessions)" = 45

# ------------------------------------------------------------------ inhibition
if ((FIRED)) && [ "${LIVE_INHIBITION:-0}" != 1 ]; then
    others=$(stack_py query "$PROM_URL" 'ALERTS{alertstate="firing",alertname!~"MySQLPoolExhausted|MySQLIdleInTransaction|MySQLPoolNearExhaustion"}' 2>&1)
    check "no other alert fires${others:+ (got: $others)}" test -z "$others"
elif ((FIRED)); then
    left=$((NEAR_TIMEOUT - ($(date +%s) - STACK_T0)))
    note "waiting up to ${left}s for MySQLPoolNearExhaustion (> 0.8 for 5m) to fire and be inhibited"
    near_inhibited() {
        [ "$(prom_alert_state MySQLPoolNearExhaustion pool="$POOL")" = firing ] &&
            [[ "$(am_alert_state MySQLPoolNearExhaustion pool="$POOL")" == suppressed* ]]
    }
    watch_until "$left" 60 "$PROGRESS_ALERTS" near_inhibited
    EXPECT=firing check "Prometheus: MySQLPoolNearExhaustion{pool=\"$POOL\"} firing" \
        state_is prom_alert_state MySQLPoolNearExhaustion pool="$POOL"
    EXPECT="suppressed receivers=warning inhibited_by=MySQLPoolExhausted" \
        check "Alertmanager: MySQLPoolNearExhaustion{pool=\"$POOL\"} suppressed, inhibited by MySQLPoolExhausted" \
        state_is am_alert_state MySQLPoolNearExhaustion pool="$POOL"
    others=$(stack_py query "$PROM_URL" 'ALERTS{alertstate="firing",alertname!~"MySQLPoolExhausted|MySQLIdleInTransaction|MySQLPoolNearExhaustion"}' 2>&1)
    check "no other alert fires${others:+ (got: $others)}" test -z "$others"
else
    not_ok "MySQLPoolNearExhaustion inhibited by MySQLPoolExhausted (skipped: MySQLPoolExhausted never fired)"
fi

# ------------------------------------------------------------------ kill-idle --execute
pause_app
note "leaky app frozen (SIGSTOP): its sessions stay open and it cannot open new ones"
EXEC_LOG="$STACK_DIR/kill-idle-execute.log"
"$EXPORTER_BIN" kill-idle --config.file "$ADMIN_CONFIG" --pool "$POOL" \
    --idle-in-transaction-older-than 30s --execute --log.level warn >"$EXEC_LOG" 2>&1
rc=$?
tail -1 "$EXEC_LOG" | sed 's/^/#   /'
check "kill-idle --execute (account $DBA_USER: CONNECTION ADMIN) exits 0 (got $rc)" test "$rc" = 0
check "kill-idle --execute killed exactly 45 sessions (got $(grep -c '  killed ' "$EXEC_LOG"))" \
    test "$(grep -c '  killed ' "$EXEC_LOG")" = 45
check "kill-idle --execute: summary: 45 killed, 0 failed" grep -qx 'summary: 45 killed, 0 failed' "$EXEC_LOG"
check "$(db_name): no kefu session left (got $(kefu_sessions))" test "$(kefu_sessions)" = 0
drained() { prom_is "$UTIL" 0 && prom_is "$IDLE_TRX" 0; }
check "Prometheus: $UTIL and $IDLE_TRX drop to 0 within 4 scrapes (20s)" poll_until 20 drained
resolved() { prom_absent MySQLPoolExhausted MySQLIdleInTransaction && am_absent MySQLPoolExhausted MySQLIdleInTransaction; }
check "MySQLPoolExhausted and MySQLIdleInTransaction resolve in Prometheus and Alertmanager within 30s" poll_until 30 resolved
progress_line MySQLPoolExhausted MySQLIdleInTransaction MySQLPoolNearExhaustion | sed 's/^/# /'
stop_app

[ "$FAILED" -gt 0 ] && show_logs "$DASH_LOG" "$FIRST_ROW_LOG" "$SHOTS_LOG" "$CHECK_LOG" "$DRY_LOG" "$EXEC_LOG"
note "screenshots of the overview's first row (Prometheus' graph page, headless Chromium): $SHOTS_DIR"
summary
