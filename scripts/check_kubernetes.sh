#!/usr/bin/env bash
# scripts/check_kubernetes.sh - the Kubernetes manifests of deploy/kubernetes/, checked offline.
#
#   1. Schemas, strict (an unknown field fails), offline: Deployment, StatefulSet, Service,
#      ConfigMap and Secret against the Kubernetes JSON schemas bundled in kubernetes-validate
#      (Kubernetes 1.30 and the newest it bundles); PodMonitor, ScrapeConfig and PrometheusRule
#      against cloudcoil's models of the prometheus-operator CRDs. Both from PyPI, pinned.
#   2. What no schema knows: image tag = Cargo.toml version, config path and user = the
#      Dockerfile's, passwords only as files of placeholder Secrets, Services and the
#      PodMonitor reach the exporter's pods and port, the ScrapeConfig's targets are the
#      exporter config's, and every exporter config passes `$EXPORTER_BIN config check`.
#      (deploy/kubernetes/prometheusrule.yaml is generated: scripts/generate_mixin.sh --check.)
#   3. Live, on 127.0.0.1 only: a throwaway MariaDB gets the account of the sidecar's
#      first-start script (run for real, with a password that needs quoting); the exporter
#      runs with each set's ConfigMap and container args (only addresses and paths
#      substituted); a real Prometheus runs the ScrapeConfig's and the PodMonitor's
#      relabelings, translated to plain scrape configs, and its HTTP API must show every
#      target up under `instance` = the target's name (the pod's name for the sidecar),
#      mysql_up{instance=...} == 1.
#
# Needs: python3 with venv (target/k8s-venv is made once with scripts/check_kubernetes.requirements.txt
# from PyPI, then reused offline), mariadb-server, prometheus (apt-get installs what is missing),
# and the exporter binary: EXPORTER_BIN, default target/debug/mysql_pool_exporter.
# DB_FLAVOR=mysql runs the live part on Oracle MySQL 9.7 instead (scripts/lib/common.sh).
# Env: KEEP_TMP=1 keeps the temp dir (configs, logs).
# Prints one `ok - ...`/`not ok - ...` line per check and `N passed, M failed` last; exits 1
# when a check failed.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT" || exit 1

EXPORTER_BIN=${EXPORTER_BIN:-$ROOT/target/debug/mysql_pool_exporter}
case "$EXPORTER_BIN" in /*) ;; *) EXPORTER_BIN="$ROOT/$EXPORTER_BIN" ;; esac
K8S_VENV=${K8S_VENV:-$ROOT/target/k8s-venv}
REQUIREMENTS="$ROOT/scripts/check_kubernetes.requirements.txt"
HELPER="$ROOT/scripts/check_kubernetes.py"
T0=$(date +%s)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/check_kubernetes.XXXXXX")
PIDS=()
finish() {
    local rc=$? i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[i]}"
        wait "${PIDS[i]}" 2>/dev/null
    done
    stop_db_dirs
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then note "KEEP_TMP=1: configs and logs stay in $TMP"; else rm -rf "$TMP"; fi
    return "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# a setup step failed (die): nothing more can be checked
die_hook() { not_ok "setup: $1"; summary; }

# py_checks COMMAND... - runs the helper's check lines through ok/not_ok (so they are counted);
# a helper that dies without saying `not ok` counts as one failure.
py_checks() {
    local out="$TMP/py.out" err="$TMP/py.err" rc line before=$FAILED
    "$K8S_VENV/bin/python" "$HELPER" "$@" >"$out" 2>"$err"
    rc=$?
    while IFS= read -r line; do
        case "$line" in
            "ok - "*) ok "${line#ok - }" ;;
            "not ok - "*) not_ok "${line#not ok - }" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done <"$out"
    if [ "$rc" -ne 0 ] && [ "$FAILED" -eq "$before" ]; then
        not_ok "check_kubernetes.py $1 exited $rc: $(tail -3 "$err" | tr '\n' ' ')"
    fi
}

# ------------------------------------------------------------------ the venv (PyPI, once)
need_packages python3:python3 mariadbd:mariadb-server mariadb-install-db:mariadb-server \
    mariadb:mariadb-client prometheus:prometheus promtool:prometheus
venv_ready() {
    [ -x "$K8S_VENV/bin/python" ] && cmp -s "$REQUIREMENTS" "$K8S_VENV/.requirements.txt" \
        && "$K8S_VENV/bin/python" -c 'import kubernetes_validate, cloudcoil.models.prometheus_operator, yaml' >/dev/null 2>&1
}
if ! venv_ready; then
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_install python3-venv
    say "creating $K8S_VENV (pip install -r ${REQUIREMENTS#"$ROOT"/}; once, ~20 s)"
    rm -rf "$K8S_VENV"
    python3 -m venv "$K8S_VENV" >"$TMP/venv.log" 2>&1 \
        || { tail -20 "$TMP/venv.log" >&2; die "python3 -m venv $K8S_VENV failed"; }
    "$K8S_VENV/bin/pip" install -q --disable-pip-version-check --no-input -r "$REQUIREMENTS" >>"$TMP/venv.log" 2>&1 \
        || { tail -20 "$TMP/venv.log" >&2; die "pip install -r $REQUIREMENTS failed (log above)"; }
    cp "$REQUIREMENTS" "$K8S_VENV/.requirements.txt"
fi
ok "venv ${K8S_VENV#"$ROOT"/} (${REQUIREMENTS#"$ROOT"/})"

# ------------------------------------------------------------------ 1, 2: static
note "exporter: $EXPORTER_BIN"
py_checks static --exporter-bin "$EXPORTER_BIN"

# ------------------------------------------------------------------ 3: live
[ -x "$EXPORTER_BIN" ] || die "no exporter binary at $EXPORTER_BIN: build it (cargo build) or set EXPORTER_BIN"

start_db "$TMP/db"
PIDS+=("$DB_PID")
note "$(db_name) $(root_sql 'SELECT VERSION()') on 127.0.0.1:$DB_PORT (pid $DB_PID)"

# A password that needs the first-start script's quoting (a quote and a backslash).
PASSWORD_FILE="$TMP/exporter-password"
printf '%s\n' "it's a \\ test" >"$PASSWORD_FILE"
chmod 600 "$PASSWORD_FILE"

SIDECAR_PORT=$(free_port)
CENTRAL_PORT=$(free_port)
"$K8S_VENV/bin/python" "$HELPER" live-files "$TMP/live" --db-port "$DB_PORT" --password-file "$PASSWORD_FILE" \
    --sidecar-port "$SIDECAR_PORT" --central-port "$CENTRAL_PORT" >/dev/null 2>"$TMP/live-files.err" \
    || die "check_kubernetes.py live-files: $(tail -3 "$TMP/live-files.err")"

# The sidecar's first-start script as the mysql image would source it: docker_process_sql
# sends its SQL to the server as root.
docker_process_sql() { root_sql; }
# (Not inside `check`: errexit does not apply in a tested command, and the image runs the
# script under `set -e`.)
( set -e; source "$TMP/live/initdb.sh" ) 2>"$TMP/initdb.err"
initdb_rc=$?
check "sidecar/mysql-initdb.yaml's first-start script creates the exporter's account on $(db_name) (exit $initdb_rc)" \
    test "$initdb_rc" -eq 0
[ -s "$TMP/initdb.err" ] && sed 's/^/#   /' "$TMP/initdb.err"
# Test only: both exporters' connections (1 + one per central target) go to this one server.
root_sql "ALTER USER 'exporter'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 10" \
    || die "ALTER USER exporter failed: the first-start script did not create 'exporter'@'127.0.0.1'"

http_status() { # http_status URL -> prints the status code
    "$K8S_VENV/bin/python" - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)
EOF
}
http_is() { [ "$(http_status "$2")" = "$1" ]; }   # http_is CODE URL

# start_exporter SET PORT — the exporter with the set's container args, as the container runs it.
start_exporter() {
    local set=$1 port=$2 args
    mapfile -t args <"$TMP/live/$set-args"
    "$EXPORTER_BIN" "${args[@]}" >"$TMP/exporter-$set.log" 2>&1 &
    PIDS+=("$!")
    WAIT_PID=$! WAIT_LOG="$TMP/exporter-$set.log" \
        wait_for "the $set exporter's /-/healthy" 30 http_is 200 "http://127.0.0.1:$port/-/healthy"
}

# The sidecar starts once MySQL answers (the postStart hook's purpose): /-/ready must turn
# 200 from the start-up connection alone, before anything scrapes it.
start_exporter sidecar "$SIDECAR_PORT"
probe_path() { "$K8S_VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' "$TMP/live/expect.json" "$@"; }
for set in sidecar central; do
    [ "$set" = central ] && start_exporter central "$CENTRAL_PORT"
    port=$SIDECAR_PORT; [ "$set" = central ] && port=$CENTRAL_PORT
    live=$(probe_path "$set" liveness); ready=$(probe_path "$set" readiness)
    check "$set exporter (its ConfigMap and container args): livenessProbe $live answers 200" \
        http_is 200 "http://127.0.0.1:$port$live"
    check "$set exporter: readinessProbe $ready answers 200 without any scrape (start-up connection)" \
        poll_until 10 http_is 200 "http://127.0.0.1:$port$ready"
done

PROM_PORT=$(free_port)
mkdir -p "$TMP/prometheus"
if promtool check config "$TMP/live/prometheus.yml" >"$TMP/promtool.log" 2>&1; then
    ok "promtool check config: the ScrapeConfig and PodMonitor translated to scrape configs"
else
    not_ok "promtool check config $TMP/live/prometheus.yml: $(tail -3 "$TMP/promtool.log" | tr '\n' ' ')"
fi
prometheus --config.file="$TMP/live/prometheus.yml" --storage.tsdb.path="$TMP/prometheus" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
PIDS+=("$!")
WAIT_PID=$! WAIT_LOG="$TMP/prometheus.log" \
    wait_for "Prometheus on 127.0.0.1:$PROM_PORT" 60 http_is 200 "http://127.0.0.1:$PROM_PORT/-/ready"
note "$(prometheus --version 2>&1 | head -1) on 127.0.0.1:$PROM_PORT"
py_checks live-assert "$TMP/live" --prometheus "http://127.0.0.1:$PROM_PORT"

if ((FAILED > 0)); then
    for f in "$TMP"/exporter-*.log "$TMP/prometheus.log"; do
        [ -f "$f" ] || continue
        note "--- ${f#"$TMP"/} (tail)"; tail -8 "$f" | sed 's/^/#   /'
    done
fi
note "took $(($(date +%s) - T0)) s"
summary
