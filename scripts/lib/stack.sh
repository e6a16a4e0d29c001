# shellcheck shell=bash
# The monitoring stack on loopback, without Docker: MariaDB or MySQL (DB_FLAVOR), mysql_pool_exporter, Alertmanager
# (with a webhook sink for its notifications), Prometheus and the leaky demo app, each on a
# free 127.0.0.1 port with its data and log under STACK_DIR, stopped by PID (stack_stop).
# Used by scripts/demo.sh and scripts/test_live_stack.sh (and test_demo.sh for the app/venv).
# Prometheus also scrapes the app's own view of its pool (OpenTelemetry, job kefu-flask-app).
#
# The servers run with the very files docker-compose.yml mounts — deploy/exporter.yml,
# deploy/prometheus.yml, deploy/alertmanager.yml, alerting-rules/, deploy/mysql/init/*.sql —
# copied into STACK_DIR with only addresses and paths substituted (sed), never rewritten.
#
# Source after common.sh:   source scripts/lib/common.sh; source scripts/lib/stack.sh
# then set STACK_DIR (a temp dir) and call the start_* functions in order.

STACK_PY="$ROOT/scripts/lib/stack.py"
# stack.py reads /metrics with prometheus_client's parser: Debian's, so Debian's python3.
STACK_PYTHON=/usr/bin/python3
"$STACK_PYTHON" -c 'import prometheus_client' 2>/dev/null || apt_install python3-prometheus-client
VENV="$ROOT/demo/.venv"
POOL=kefu-flask                         # the pool of deploy/exporter.yml that the demo app fills
KEFU_PW='kefu-demo-password'            # demo values from deploy/mysql/init/01-users.sql
# The admin account kill-idle --execute needs (KILL CONNECTION on other users' sessions).
# Created by stack_start_db only: the compose stack and deploy/mysql/init/ have no
# account that may kill anything.
DBA_USER=dba
DBA_PW='dba-demo-password'
STACK_PIDS=()                           # "name:pid", stopped in reverse order by stack_stop
STACK_LOGS=()                           # log files, listed by stack_show_logs

STACK_T0=${STACK_T0:-$(date +%s)}      # progress lines show the time since then

stack_track() { STACK_PIDS+=("$1:$2"); STACK_LOGS+=("$3"); }
# stack_untrack PID — it was stopped and reaped: never signal that PID again.
stack_untrack() {
    local keep=() e
    for e in "${STACK_PIDS[@]}"; do [ "${e##*:}" = "$1" ] || keep+=("$e"); done
    STACK_PIDS=("${keep[@]}")
}

# stack_need_packages — every Debian package the stack needs, installed when missing.
stack_need_packages() {
    need_packages mariadbd:mariadb-server mariadb-install-db:mariadb-server mariadb:mariadb-client \
        prometheus:prometheus promtool:prometheus \
        prometheus-alertmanager:prometheus-alertmanager amtool:prometheus-alertmanager \
        python3:python3
}

# ensure_demo_venv — demo/.venv with demo/requirements.txt (PyPI), created when missing and
# completed when it lacks a package (a venv made before the OpenTelemetry packages were
# added); installs python3-venv first if `python3 -m venv` cannot work. Sets DEMO_PY.
DEMO_IMPORTS='import sqlalchemy, pymysql, opentelemetry.sdk.metrics, opentelemetry.instrumentation.sqlalchemy, opentelemetry.exporter.prometheus'
ensure_demo_venv() {
    DEMO_PY="$VENV/bin/python"
    "$DEMO_PY" -c "$DEMO_IMPORTS" >/dev/null 2>&1 && return 0
    local log="${STACK_DIR:-${TMPDIR:-/tmp}}/venv.log"
    : >"$log"
    if [ ! -x "$DEMO_PY" ]; then
        python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_install python3-venv
        say "creating demo/.venv"
        python3 -m venv "$VENV" >"$log" 2>&1 || { tail -20 "$log" >&2; die "python3 -m venv $VENV failed (log: $log)"; }
    fi
    say "pip install -r demo/requirements.txt (into demo/.venv)"
    if ! "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/demo/requirements.txt" >>"$log" 2>&1; then
        tail -20 "$log" >&2
        # The app's pool metrics need these; say so rather than a bare pip failure.
        grep -qi opentelemetry "$log" &&
            die "pip could not install the OpenTelemetry packages of demo/requirements.txt (opentelemetry-sdk, -instrumentation-sqlalchemy, -exporter-prometheus): the app cannot serve its pool metrics (log: $log)"
        die "pip install -r demo/requirements.txt failed (log: $log)"
    fi
    "$DEMO_PY" -c "$DEMO_IMPORTS" >>"$log" 2>&1 \
        || { tail -5 "$log" >&2; die "demo/.venv still cannot import what demo/leaky_app.py needs ($DEMO_IMPORTS) (log: $log)"; }
}

# build_exporter — cargo build --release; sets EXPORTER_BIN. With EXPORTER_BIN already set in
# the environment (a binary built elsewhere), uses that and builds nothing.
build_exporter() {
    if [ -n "${EXPORTER_BIN:-}" ]; then
        [ -x "$EXPORTER_BIN" ] || die "EXPORTER_BIN=$EXPORTER_BIN is not an executable"
        return 0
    fi
    command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain (rustup)"
    local log="$STACK_DIR/cargo-build.log"
    (cd "$ROOT" && cargo build --release) >"$log" 2>&1 \
        || { tail -30 "$log" >&2; die "cargo build --release failed (log: $log)"; }
    EXPORTER_BIN="$ROOT/target/release/mysql_pool_exporter"
}

# substitute SRC DEST SED_ARGS... — DEST = sed SED_ARGS SRC; fails when SRC and DEST are equal
# (the file no longer contains what is substituted: it changed, and so must this script).
substitute() {
    local src=$1 dest=$2; shift 2
    sed "$@" "$src" >"$dest" || die "sed on ${src#"$ROOT"/} failed"
    ! cmp -s "$src" "$dest" || die "${src#"$ROOT"/}: nothing substituted (sed $*): the file changed, update scripts/lib/stack.sh"
}

# no_leftover FILE PATTERN... — none of the compose-only addresses is left outside comments.
no_leftover() {
    local f=$1 p; shift
    for p in "$@"; do
        if grep -v '^[[:space:]]*#' "$f" | grep -qF "$p"; then
            die "$f still contains '$p' after substitution: update scripts/lib/stack.sh"
        fi
    done
}

# stack_start_db — start_db (DB_FLAVOR; max_connections 100, as in docker-compose.yml), the
# users and grants of deploy/mysql/init/*.sql, and the demo-only admin account for kill-idle.
stack_start_db() {
    DB_OPTS="--max-connections=100 ${DB_OPTS:-}" start_db "$STACK_DIR/db"
    stack_track "$DB_FLAVOR" "$DB_PID" "$STACK_DIR/db/error.log"
    load_init_sql
    root_sql "CREATE USER IF NOT EXISTS '$DBA_USER'@'%' IDENTIFIED BY '$DBA_PW';
              GRANT PROCESS, $(connection_admin) ON *.* TO '$DBA_USER'@'%';
              GRANT SELECT ON performance_schema.* TO '$DBA_USER'@'%';" \
        || die "creating the admin account $DBA_USER failed"
}

# load_init_sql — deploy/mysql/init/*.sql in order, as the server images run them; the
# files named *-mariadb.sql only on MariaDB (docker-compose.yml mounts them only there).
load_init_sql() {
    local f
    for f in "$ROOT"/deploy/mysql/init/*.sql; do
        [ "$DB_FLAVOR" != mariadb ] && [[ "$f" == *-mariadb.sql ]] && continue
        root_sql <"$f" >"$STACK_DIR/init-sql.log" 2>&1 \
            || { cat "$STACK_DIR/init-sql.log" >&2; die "loading ${f#"$ROOT"/} failed"; }
    done
}

# render_exporter_config DEST USER PASSWORD_FILE — deploy/exporter.yml for this server.
render_exporter_config() {
    substitute "$ROOT/deploy/exporter.yml" "$1" \
        -e "s|mysql://exporter@mysql:3306|mysql://$2@127.0.0.1:$DB_PORT|" \
        -e "s|/run/secrets/mysql_exporter_password|$3|"
    no_leftover "$1" "@mysql:3306" "/run/secrets/"
}

# stack_exporter_configs — EXPORTER_CONFIG (the exporter account, as compose) and ADMIN_CONFIG
# (the same file with the admin account, for kill-idle --execute).
stack_exporter_configs() {
    EXPORTER_CONFIG="$STACK_DIR/exporter.yml"
    ADMIN_CONFIG="$STACK_DIR/exporter-admin.yml"
    render_exporter_config "$EXPORTER_CONFIG" exporter "$ROOT/deploy/mysql/secrets/exporter_password"
    (umask 077 && printf '%s' "$DBA_PW" >"$STACK_DIR/dba_password")
    render_exporter_config "$ADMIN_CONFIG" "$DBA_USER" "$STACK_DIR/dba_password"
    "$EXPORTER_BIN" config check "$EXPORTER_CONFIG" >"$STACK_DIR/config-check.log" 2>&1 \
        || { cat "$STACK_DIR/config-check.log" >&2; die "mysql_pool_exporter config check $EXPORTER_CONFIG failed"; }
}

http_ok() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"; }

# start_exporter — serves EXPORTER_CONFIG; sets EXPORTER_PORT EXPORTER_PID EXPORTER_URL and
# waits until it answers /-/healthy and its /metrics says mysql_up 1 (after that first
# collection /-/ready answers 200 too).
start_exporter() {
    EXPORTER_PORT=$(free_port)
    EXPORTER_URL="http://127.0.0.1:$EXPORTER_PORT"
    "$EXPORTER_BIN" --config.file "$EXPORTER_CONFIG" --web.listen-address "127.0.0.1:$EXPORTER_PORT" \
        --log.level info >"$STACK_DIR/exporter.log" 2>&1 &
    EXPORTER_PID=$!
    stack_track exporter "$EXPORTER_PID" "$STACK_DIR/exporter.log"
    WAIT_PID=$EXPORTER_PID WAIT_LOG="$STACK_DIR/exporter.log" \
        wait_for "the exporter's $EXPORTER_URL/-/healthy" 30 http_ok "$EXPORTER_URL/-/healthy"
    WAIT_PID=$EXPORTER_PID WAIT_LOG="$STACK_DIR/exporter.log" \
        wait_for "mysql_up 1 on the exporter's $EXPORTER_URL/metrics" 30 exporter_up
}

# start_replica_exporter — for the dashboards' checks across servers (scripts/test_live_stack.sh):
# a second exporter on the same server, its config EXPORTER_CONFIG with the target renamed
# `replica` and a second pool, `reports` (user reports: nobody connects as it, so its series
# are all zero; its capacity keeps the replica's overcommit at 65 %). Prometheus scrapes it
# when start_prometheus runs with PROM_EXTRA_SCRAPE="$(replica_scrape_config)": job `mysql`,
# instance `replica`. Sets REPLICA_CONFIG REPLICA_PORT REPLICA_PID REPLICA_URL.
start_replica_exporter() {
    REPLICA_CONFIG="$STACK_DIR/exporter-replica.yml"
    substitute "$EXPORTER_CONFIG" "$REPLICA_CONFIG" \
        -e 's|^  - name: primary$|  - name: replica|' \
        -e '/^pools:$/a\
  - name: reports\
    match: { user: reports }\
    size: 5\
    max_overflow: 5\
    processes: 2'
    grep -q '^  - name: replica$' "$REPLICA_CONFIG" && grep -q '^  - name: reports$' "$REPLICA_CONFIG" \
        || die "$REPLICA_CONFIG: the target or the pool was not substituted: deploy/exporter.yml changed, update scripts/lib/stack.sh"
    "$EXPORTER_BIN" config check "$REPLICA_CONFIG" >"$STACK_DIR/config-check-replica.log" 2>&1 \
        || { cat "$STACK_DIR/config-check-replica.log" >&2; die "mysql_pool_exporter config check $REPLICA_CONFIG failed"; }
    REPLICA_PORT=$(free_port)
    REPLICA_URL="http://127.0.0.1:$REPLICA_PORT"
    "$EXPORTER_BIN" --config.file "$REPLICA_CONFIG" --web.listen-address "127.0.0.1:$REPLICA_PORT" \
        --log.level info >"$STACK_DIR/exporter-replica.log" 2>&1 &
    REPLICA_PID=$!
    stack_track exporter-replica "$REPLICA_PID" "$STACK_DIR/exporter-replica.log"
    WAIT_PID=$REPLICA_PID WAIT_LOG="$STACK_DIR/exporter-replica.log" \
        wait_for "the second exporter's $REPLICA_URL/-/healthy" 30 http_ok "$REPLICA_URL/-/healthy"
}

# replica_scrape_config — the scrape job for start_replica_exporter's exporter, to append to
# deploy/prometheus.yml's scrape_configs (its last key): the same job label as the primary's
# (`job` relabeled), so that one Job selection on the dashboards shows both instances.
replica_scrape_config() {
    cat <<EOF
  # Added by scripts/lib/stack.sh for the live-stack test: a second exporter on the same
  # server (target replica, pools kefu-flask and reports), as a second instance of job mysql.
  - job_name: mysql-replica
    scrape_interval: 5s
    scrape_timeout: 4s
    static_configs:
      - targets: ["127.0.0.1:$REPLICA_PORT"]
    relabel_configs:
      - target_label: instance
        replacement: replica
      - target_label: job
        replacement: mysql
EOF
}

# start_webhook_sink — where Alertmanager's receivers deliver (instead of 127.0.0.1:5001):
# every notification is one JSON line in SINK_FILE. Sets SINK_PORT SINK_PID.
start_webhook_sink() {
    SINK_PORT=$(free_port)
    SINK_FILE="$STACK_DIR/notifications.jsonl"
    : >"$SINK_FILE"
    "$STACK_PYTHON" "$STACK_PY" webhook-sink --port "$SINK_PORT" --out "$SINK_FILE" >"$STACK_DIR/webhook-sink.log" 2>&1 &
    SINK_PID=$!
    stack_track webhook-sink "$SINK_PID" "$STACK_DIR/webhook-sink.log"
    WAIT_PID=$SINK_PID WAIT_LOG="$STACK_DIR/webhook-sink.log" \
        wait_for "the webhook sink on 127.0.0.1:$SINK_PORT" 10 \
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$SINK_PORT"
}

# start_alertmanager — deploy/alertmanager.yml with its webhook URLs pointed at the sink,
# clustering off, storage in STACK_DIR; sets AM_PORT AM_PID AM_URL.
start_alertmanager() {
    local dir="$STACK_DIR/alertmanager"
    mkdir -p "$dir/data"
    substitute "$ROOT/deploy/alertmanager.yml" "$dir/alertmanager.yml" \
        -e "s|http://127.0.0.1:5001/|http://127.0.0.1:$SINK_PORT/|g"
    no_leftover "$dir/alertmanager.yml" "127.0.0.1:5001"
    amtool check-config "$dir/alertmanager.yml" >"$dir/check-config.log" 2>&1 \
        || { cat "$dir/check-config.log" >&2; die "amtool check-config $dir/alertmanager.yml failed"; }
    AM_PORT=$(free_port)
    AM_URL="http://127.0.0.1:$AM_PORT"
    prometheus-alertmanager --config.file="$dir/alertmanager.yml" --storage.path="$dir/data" \
        --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= \
        >"$dir/alertmanager.log" 2>&1 &
    AM_PID=$!
    stack_track alertmanager "$AM_PID" "$dir/alertmanager.log"
    WAIT_PID=$AM_PID WAIT_LOG="$dir/alertmanager.log" \
        wait_for "Alertmanager's $AM_URL/-/ready" 30 http_ok "$AM_URL/-/ready"
}

# start_prometheus — deploy/prometheus.yml with the substitution its header documents
# (exporter, Alertmanager, the demo app's metrics, the alerting-rules/ directory), after
# promtool check config; sets PROM_PORT PROM_PID PROM_URL, and APP_METRICS_PORT: where
# start_leaky_app makes the app serve its pool metrics, so that this job scrapes it.
# PROM_EXTRA_SCRAPE (optional): scrape jobs appended to scrape_configs (replica_scrape_config).
start_prometheus() {
    local dir="$STACK_DIR/prometheus"
    mkdir -p "$dir/data"
    APP_METRICS_PORT=$(free_port)
    substitute "$ROOT/deploy/prometheus.yml" "$dir/prometheus.yml" \
        -e "s|exporter:9207|127.0.0.1:$EXPORTER_PORT|g" \
        -e "s|alertmanager:9093|127.0.0.1:$AM_PORT|g" \
        -e "s|demo:9464|127.0.0.1:$APP_METRICS_PORT|g" \
        -e "s|/etc/prometheus/rules|$ROOT/alerting-rules|g"
    no_leftover "$dir/prometheus.yml" "exporter:9207" "alertmanager:9093" "demo:9464" "/etc/prometheus"
    [ -z "${PROM_EXTRA_SCRAPE:-}" ] || printf '%s\n' "$PROM_EXTRA_SCRAPE" >>"$dir/prometheus.yml"
    promtool check config "$dir/prometheus.yml" >"$dir/check-config.log" 2>&1 \
        || { cat "$dir/check-config.log" >&2; die "promtool check config $dir/prometheus.yml failed"; }
    PROM_PORT=$(free_port)
    PROM_URL="http://127.0.0.1:$PROM_PORT"
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >"$dir/prometheus.log" 2>&1 &
    PROM_PID=$!
    stack_track prometheus "$PROM_PID" "$dir/prometheus.log"
    WAIT_PID=$PROM_PID WAIT_LOG="$dir/prometheus.log" \
        wait_for "Prometheus' $PROM_URL/-/ready" 60 http_ok "$PROM_URL/-/ready"
}

# start_stack — everything but the app, in dependency order.
start_stack() {
    stack_start_db
    stack_exporter_configs
    start_exporter
    start_webhook_sink
    start_alertmanager
    start_prometheus
}

# start_leaky_app LOG ARGS... — demo/leaky_app.py as user kefu against the throwaway server
# (password from the environment, never on the command line); sets APP_PID. With
# APP_METRICS_PORT set (start_prometheus), the app serves its pool metrics there.
start_leaky_app() {
    local log=$1; shift
    KEFU_PASSWORD="$KEFU_PW" "$DEMO_PY" -u "$ROOT/demo/leaky_app.py" \
        --dsn "mysql+pymysql://kefu@127.0.0.1:$DB_PORT/kefu" \
        ${APP_METRICS_PORT:+--metrics-port "$APP_METRICS_PORT"} "$@" >"$log" 2>&1 &
    APP_PID=$!
    stack_track leaky_app "$APP_PID" "$log"
}

# pause_app / stop_app — SIGSTOP keeps the app's connections open (as a wedged process would)
# and stops it from opening new ones; stop_app resumes it first so that SIGTERM is handled.
pause_app() { kill -STOP "$APP_PID"; }
stop_app() {
    [ -n "${APP_PID:-}" ] || return 0
    kill -CONT "$APP_PID" 2>/dev/null
    stop_pid "$APP_PID"
    wait "$APP_PID" 2>/dev/null
    stack_untrack "$APP_PID"
    APP_PID=""
}

# ------------------------------------------------------------------ reading the stack
stack_py() { "$STACK_PYTHON" "$STACK_PY" "$@"; }
exporter_metric() { stack_py metric "$EXPORTER_URL" "$@"; }     # NAME [LABEL=VALUE...]
exporter_up() { [ "$(exporter_metric mysql_up)" = 1 ]; }
prom_value() { stack_py value "$PROM_URL" "$1"; }               # EXPR (exactly one series)
prom_alert_state() { stack_py prom-alert "$PROM_URL" "$@"; }    # ALERTNAME [LABEL=VALUE...]
am_alert_state() { stack_py am-alert "$AM_URL" "$@"; }          # ALERTNAME [LABEL=VALUE...]

# two_ends — one line, from Prometheus: the pool as the app counts it (its OpenTelemetry
# metrics, mysql_pool:app_*) and as the exporter sees it on the server; "-" where absent.
prom_or_dash() { prom_value "$1" 2>/dev/null || echo -; }
two_ends() {
    local p="pool=\"$POOL\""
    printf 'the app says %s used, %s idle | the server says %s held, %s idle in transaction\n' \
        "$(prom_or_dash "mysql_pool:app_used_connections{$p}")" "$(prom_or_dash "mysql_pool:app_idle_connections{$p}")" \
        "$(prom_or_dash "sum(mysql_pool_held_sessions{job=\"mysql\",instance=\"primary\",$p})")" \
        "$(prom_or_dash "sum(mysql_pool_sessions{job=\"mysql\",instance=\"primary\",$p,state=\"idle_in_transaction\"})")"
}

# am_active ALERTNAME... — each is in Alertmanager for the primary, active (neither inhibited
# nor silenced). The primary's, not any instance's: the live stack's replica fills at the same
# time and its alert can be active a scrape earlier, while the primary's is still pending.
am_active() {
    local a s
    for a in "$@"; do
        s=$(am_alert_state "$a" pool="$POOL" instance=primary 2>/dev/null) || return 1
        [ "${s%% *}" = active ] || return 1
    done
}
# prom_absent ALERTNAME... — Prometheus has none of them pending or firing.
prom_absent() {
    local a
    for a in "$@"; do ! prom_alert_state "$a" >/dev/null 2>&1 || return 1; done
}
# am_absent ALERTNAME... — Alertmanager shows none of them (resolved alerts are not listed).
am_absent() {
    local a
    for a in "$@"; do ! am_alert_state "$a" >/dev/null 2>&1 || return 1; done
}

# progress_line ALERTNAME... — one status line: the pool as the exporter sees it, the alerts'
# states in Prometheus and in Alertmanager.
progress_line() {
    stack_py progress --exporter "$EXPORTER_URL" --prom "$PROM_URL" --am "$AM_URL" --pool "$POOL" \
        --since "$STACK_T0" "$@"
}

# watch_until SECONDS INTERVAL ALERTNAMES COMMAND... — runs COMMAND every second until it
# succeeds (0) or SECONDS pass (1); every INTERVAL seconds prints progress_line for the
# (space-separated) ALERTNAMES, prefixed by PROGRESS_PREFIX.
watch_until() {
    local secs=$1 every=$2 names=$3 start now next; shift 3
    start=$(date +%s); next=$start
    # shellcheck disable=SC2086
    while :; do
        now=$(date +%s)
        if ((now >= next)); then
            printf '%s%s\n' "${PROGRESS_PREFIX:-}" "$(progress_line $names 2>&1)"
            next=$((now + every))
        fi
        "$@" >/dev/null 2>&1 && { printf '%s%s\n' "${PROGRESS_PREFIX:-}" "$(progress_line $names 2>&1)"; return 0; }
        ((now - start >= secs)) && return 1
        sleep 1
    done
}

stack_urls() {
    printf '    exporter      %s/  (metrics: %s/metrics)\n' "$EXPORTER_URL" "$EXPORTER_URL"
    printf '    Prometheus    %s/alerts\n' "$PROM_URL"
    printf '    Alertmanager  %s/#/alerts\n' "$AM_URL"
    [ -n "${APP_METRICS_PORT:-}" ] && printf '    the app       http://127.0.0.1:%s/metrics  (its own view of its pool: OpenTelemetry)\n' "$APP_METRICS_PORT"
    printf '    %-13s 127.0.0.1:%s (root: mariadb --no-defaults -uroot --socket=%s)\n' "$(db_name)" "$DB_PORT" "$DB_SOCK"
}

stack_show_logs() {
    local f
    printf 'logs:\n' >&2
    for f in "${STACK_LOGS[@]}"; do [ -n "$f" ] && printf '    %s\n' "$f" >&2; done
}

# stack_stop — stops everything started here, newest first, by PID.
stack_stop() {
    local i entry pid
    for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${STACK_PIDS[i]}; pid=${entry##*:}
        kill -CONT "$pid" 2>/dev/null
        stop_pid "$pid"
        wait "$pid" 2>/dev/null
    done
    STACK_PIDS=()
    stop_db_dirs
}
