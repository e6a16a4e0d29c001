#!/usr/bin/env bash
# Tests the alerting content of mysql_pool_exporter:
#   alerting-rules/mysql_pool_exporter.rules.yml   recording rules and alerts
#   alerting-rules/tests/*.test.yml                promtool unit tests
#   alerting-rules/tests/alertmanager-routes.txt    expected routing of deploy/alertmanager.yml
#   deploy/alertmanager.yml                         routes, receivers, inhibitions
#   docs/runbooks/                                  one runbook per alert
#
# Checks, in order:
#   1. promtool check rules (syntax, PromQL, lint)
#   2. promtool test rules, one check per test file
#   3. every alert: severity warning|critical, summary, description, the runbook URL
#      "$RUNBOOK_PREFIX<alertname>.md", that runbook file, an entry in the runbook index and
#      a promtool test naming it; no runbook without an alert
#   4. amtool check-config, the routing table, and every alert's severity -> its receiver
#   5. a live Alertmanager on 127.0.0.1 (throwaway storage, clustering off): alerts are
#      posted and the inhibitions are asserted on what it reports
#   6. mutants: each threshold, `for:`, label filter, severity and runbook URL is broken in
#      a temporary copy of the rules, and the promtool tests must fail on every one
#
# Needs promtool, amtool and prometheus-alertmanager (Debian packages `prometheus` and
# `prometheus-alertmanager`); installs nothing. Prints one line per check and ends with
# "N passed, M failed"; exits non-zero if any check failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=lib/common.sh
source "$ROOT/scripts/lib/common.sh"

RULES=alerting-rules/mysql_pool_exporter.rules.yml
TESTS_DIR=alerting-rules/tests
ROUTES=$TESTS_DIR/alertmanager-routes.txt
AM_CONFIG=deploy/alertmanager.yml
RUNBOOKS=docs/runbooks
# Where the runbooks live, from the mixin's _config (the one place it is spelled out).
RUNBOOK_PREFIX=$(jsonnet -S -e '(import "mixin/mixin.libsonnet")._config.runbookURLBase')

missing=()
for tool in promtool amtool prometheus-alertmanager; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "test-alerting: missing ${missing[*]}: install the Debian packages 'prometheus' (promtool) and 'prometheus-alertmanager' (amtool, prometheus-alertmanager) first" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/test-alerting.XXXXXX")"
AM_PID=""
cleanup() {
  if [[ -n "$AM_PID" ]] && kill -0 "$AM_PID" 2>/dev/null; then
    kill "$AM_PID" 2>/dev/null || true
    wait "$AM_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# check DESCRIPTION COMMAND...: scripts/lib/common.sh's check_logged (count, print, show the
# output on failure; never aborts the script).
check() { check_logged "$@"; }

section() { printf '\n== %s\n' "$1"; }

# ------------------------------------------------------------------ 1, 2: promtool
section "promtool: rules"
check "promtool check rules $RULES" promtool check rules "$RULES"

section "promtool: unit tests"
shopt -s nullglob
test_files=("$TESTS_DIR"/*.test.yml)
shopt -u nullglob
if ((${#test_files[@]} == 0)); then
  check "unit test files exist in $TESTS_DIR" false
fi
for f in "${test_files[@]}"; do
  check "promtool test rules $f" promtool test rules "$f"
done

# ------------------------------------------------------- 3: alerts, runbooks, tests
section "alerts: labels, annotations, runbooks, tests"
# One line per alerting rule: name severity has_summary has_description runbook_url
alert_table() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, yaml
for g in yaml.safe_load(open(sys.argv[1]))["groups"]:
    for r in g["rules"]:
        if "alert" in r:
            a = r.get("annotations") or {}
            print(r["alert"], (r.get("labels") or {}).get("severity", "-"), int("summary" in a),
                  int("description" in a), a.get("runbook_url", "-"))
PY
}
alert_table "$RULES" >"$WORK/alerts.txt"
check "the rules define alerts" test -s "$WORK/alerts.txt"

check_alert() {
  local name="$1" sev="$2" summ="$3" desc="$4" url="$5"
  local ok=0
  [[ "$sev" == warning || "$sev" == critical ]] || { echo "severity is '$sev', not warning|critical"; ok=1; }
  [[ "$summ" == 1 ]] || { echo "no summary annotation"; ok=1; }
  [[ "$desc" == 1 ]] || { echo "no description annotation"; ok=1; }
  [[ "$url" == "${RUNBOOK_PREFIX}${name}.md" ]] || { echo "runbook_url is '$url', expected '${RUNBOOK_PREFIX}${name}.md'"; ok=1; }
  [[ -s "$RUNBOOKS/$name.md" ]] || { echo "no runbook $RUNBOOKS/$name.md"; ok=1; }
  grep -q "($name.md)" "$RUNBOOKS/README.md" 2>/dev/null || { echo "$RUNBOOKS/README.md does not link $name.md"; ok=1; }
  grep -Eq "alertname: $name\$" "$TESTS_DIR"/*.test.yml || { echo "no promtool test for $name in $TESTS_DIR"; ok=1; }
  return $ok
}
while read -r name sev summ desc url; do
  check "alert $name ($sev): labels, annotations, runbook, test" check_alert "$name" "$sev" "$summ" "$desc" "$url"
done <"$WORK/alerts.txt"

no_orphan_runbooks() {
  local ok=0 f base
  for f in "$RUNBOOKS"/*.md; do
    base="$(basename "$f" .md)"
    [[ "$base" == README ]] && continue
    awk '{print $1}' "$WORK/alerts.txt" | grep -qx "$base" || { echo "$f documents no alert of $RULES"; ok=1; }
  done
  return $ok
}
check "every runbook in $RUNBOOKS belongs to an alert" no_orphan_runbooks

# ------------------------------------------------------------- 4: Alertmanager config
section "Alertmanager: config and routing"
check "amtool check-config $AM_CONFIG" amtool check-config "$AM_CONFIG"

route_case() {
  local receiver="$1"
  shift
  amtool config routes test --config.file="$AM_CONFIG" --verify.receivers="$receiver" "$@"
}
routes_seen=0
while read -r receiver labels; do
  [[ -z "$receiver" || "$receiver" == \#* ]] && continue
  routes_seen=$((routes_seen + 1))
  # shellcheck disable=SC2086 # labels are whitespace-separated name=value words
  check "route {$labels} -> $receiver" route_case "$receiver" $labels
done <"$ROUTES"
check "routing table $ROUTES has cases" test "$routes_seen" -gt 0

# Every alert reaches the receiver named by its severity.
sort -u -k1,2 "$WORK/alerts.txt" | while read -r name sev _; do echo "$name $sev"; done >"$WORK/alert-sev.txt"
while read -r name sev; do
  check "route alert $name (severity=$sev) -> $sev" route_case "$sev" alertname="$name" severity="$sev" instance=db1 pool=p1
done <"$WORK/alert-sev.txt"

# ---------------------------------------------------------- 5: live Alertmanager
section "Alertmanager: live inhibition on 127.0.0.1"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_alertmanager() {
  local try port sink
  for try in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    port_free "$port" || continue
    mkdir -p "$WORK/am-data"
    # The configuration under test, with the webhook URLs moved to a port nothing listens
    # on, so that no test alert can reach a receiver that happens to run on 127.0.0.1:5001
    # (the demo's). Routing and inhibition do not depend on the URLs.
    sink=$((20000 + RANDOM % 40000))
    port_free "$sink" && [[ "$sink" != "$port" ]] || continue
    sed "s#http://127.0.0.1:5001/#http://127.0.0.1:$sink/#" "$AM_CONFIG" >"$WORK/alertmanager.yml"
    prometheus-alertmanager \
      --config.file="$WORK/alertmanager.yml" \
      --storage.path="$WORK/am-data" \
      --web.listen-address="127.0.0.1:$port" \
      --cluster.listen-address= \
      --log.level=warn >"$WORK/alertmanager.log" 2>&1 &
    AM_PID=$!
    AM_URL="http://127.0.0.1:$port/"
    for _ in $(seq 50); do
      if ! kill -0 "$AM_PID" 2>/dev/null; then break; fi
      if amtool --alertmanager.url="$AM_URL" config show >/dev/null 2>&1; then
        echo "alertmanager pid $AM_PID on $AM_URL"
        return 0
      fi
      sleep 0.2
    done
    kill "$AM_PID" 2>/dev/null || true
    wait "$AM_PID" 2>/dev/null || true
    AM_PID=""
  done
  echo "prometheus-alertmanager did not become ready; its log:"
  cat "$WORK/alertmanager.log"
  return 1
}

post_alerts() {
  local a
  # name labels... ; every alert carries a summary, like the real ones
  while read -r a; do
    [[ -z "$a" ]] && continue
    # shellcheck disable=SC2086
    amtool --alertmanager.url="$AM_URL" alert add $a --annotation=summary="test-alerting" || return 1
  done <<'EOF'
alertname=MySQLDown severity=critical job=mysql instance=db1
alertname=MySQLPoolExhausted severity=critical job=mysql instance=db1 pool=kefu-flask
alertname=MySQLIdleInTransaction severity=warning job=mysql instance=db1 pool=kefu-flask
alertname=MySQLConnectionsExhausted severity=critical job=mysql instance=db2
alertname=MySQLConnectionsNearLimit severity=warning job=mysql instance=db2
alertname=MySQLConnectionsNearLimit severity=warning job=mysql instance=db3
alertname=MySQLPoolExhausted severity=critical job=mysql instance=db2 pool=kefu-flask
alertname=MySQLPoolNearExhaustion severity=warning job=mysql instance=db2 pool=kefu-flask
alertname=MySQLPoolNearExhaustion severity=warning job=mysql instance=db2 pool=reports
EOF
}

# expect_alert STATE RECEIVER MATCHERS...: exactly one alert matches, in STATE ("active", or
# "suppressed" by an inhibition), routed to RECEIVER. Inhibition is computed asynchronously
# after a post, so this retries for a few seconds.
expect_alert() {
  local state="$1" receiver="$2" out n
  shift 2
  for _ in $(seq 25); do
    out="$(amtool --alertmanager.url="$AM_URL" -o json alert query --active --inhibited --silenced --unprocessed "$@")" || return 1
    n="$(grep -o '"fingerprint"' <<<"$out" | wc -l)"
    if ((n == 1)) && grep -q "\"receivers\":\[{\"name\":\"$receiver\"}\]" <<<"$out"; then
      if [[ "$state" == suppressed ]] && grep -q '"inhibitedBy":\["' <<<"$out" && grep -q '"state":"suppressed"' <<<"$out"; then
        return 0
      fi
      if [[ "$state" == active ]] && grep -q '"inhibitedBy":\[\]' <<<"$out" && grep -q '"state":"active"' <<<"$out"; then
        return 0
      fi
    fi
    sleep 0.2
  done
  echo "expected one $state alert for {$*} routed to $receiver; Alertmanager reports:"
  echo "$out"
  return 1
}

stop_alertmanager() {
  kill "$AM_PID" || return 1
  wait "$AM_PID" 2>/dev/null || true
  AM_PID=""
}

AM_URL=""
check "start prometheus-alertmanager on 127.0.0.1 (throwaway storage, no cluster)" start_alertmanager
if [[ -n "$AM_PID" ]]; then
  check "post 9 alerts with amtool alert add" post_alerts
  check "MySQLDown{db1} is active (critical)" \
    expect_alert active critical alertname=MySQLDown instance=db1
  check "MySQLPoolExhausted{db1} is inhibited by MySQLDown{db1}" \
    expect_alert suppressed critical alertname=MySQLPoolExhausted instance=db1
  check "MySQLIdleInTransaction{db1} is inhibited by MySQLDown{db1}" \
    expect_alert suppressed warning alertname=MySQLIdleInTransaction instance=db1
  check "MySQLConnectionsExhausted{db2} is active: MySQLDown{db1} is another instance" \
    expect_alert active critical alertname=MySQLConnectionsExhausted instance=db2
  check "MySQLConnectionsNearLimit{db2} is inhibited by MySQLConnectionsExhausted{db2}" \
    expect_alert suppressed warning alertname=MySQLConnectionsNearLimit instance=db2
  check "MySQLConnectionsNearLimit{db3} is active (nothing exhausted on db3)" \
    expect_alert active warning alertname=MySQLConnectionsNearLimit instance=db3
  check "MySQLPoolExhausted{db2,kefu-flask} is active" \
    expect_alert active critical alertname=MySQLPoolExhausted instance=db2 pool=kefu-flask
  check "MySQLPoolNearExhaustion{db2,kefu-flask} is inhibited by MySQLPoolExhausted{db2,kefu-flask}" \
    expect_alert suppressed warning alertname=MySQLPoolNearExhaustion instance=db2 pool=kefu-flask
  check "MySQLPoolNearExhaustion{db2,reports} is active (another pool)" \
    expect_alert active warning alertname=MySQLPoolNearExhaustion instance=db2 pool=reports
  check "stop prometheus-alertmanager (pid $AM_PID)" stop_alertmanager
fi

# ---------------------------------------------------------------------- 6: mutants
section "mutants: the tests must fail on each broken copy"
# mutate ALERT_OR_RECORD OLD NEW: in a copy of alerting-rules/, replace the first OLD inside
# the rule(s) named ALERT_OR_RECORD with NEW, then run every promtool test on the copy.
# The check passes when the mutation applied and promtool test rules failed.
mutant_killed() {
  local rule="$1" old="$2" new="$3" dir="$WORK/mutant"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r alerting-rules "$dir/"
  # OLD is matched against the rule's fields written as `key: value` (labels and
  # annotations flattened), so that the table below reads as the rules do.
  if ! /usr/bin/python3 - "$RULES" "$dir/$RULES" "$rule" "$old" "$new" <<'PY'; then
import sys, yaml
src, dst, name, old, new = sys.argv[1:]
doc = yaml.safe_load(open(src))
for r in (r for g in doc["groups"] for r in g["rules"]):
    if name not in (r.get("alert"), r.get("record")):
        continue
    for parent in [r, r.get("labels") or {}, r.get("annotations") or {}]:
        for k, v in parent.items():
            text = "%s: %s" % (k, v)
            if isinstance(v, str) and old in text:
                parent[k] = text.replace(old, new, 1).split(": ", 1)[1]
                yaml.safe_dump(doc, open(dst, "w"), sort_keys=False)
                sys.exit(0)
sys.exit(3)
PY
    echo "mutation did not apply: '$old' not found in rule $rule"
    return 1
  fi
  if promtool test rules "$dir/$TESTS_DIR"/*.test.yml >"$dir/out" 2>&1; then
    echo "promtool test rules still passes with '$old' -> '$new' in $rule"
    return 1
  fi
  # The runbook/severity mutants are caught by the exact annotations and labels too; for
  # them the alert check of section 3 is a second net.
  return 0
}

while IFS=';' read -r rule old new; do
  [[ -z "$rule" || "$rule" == \#* ]] && continue
  check "mutant $rule: '$old' -> '$new'" mutant_killed "$rule" "$old" "$new"
done <<'EOF'
mysql:connections:saturation_ratio;(mysql_global_variables_max_connections > 0);mysql_global_variables_max_connections
mysql:sessions:older_than_30s;le="30";le="10"
mysql_pool:sessions:older_than_60s;le="60";le="120"
mysql_pool:utilization_ratio:avg5m;avg_over_time;max_over_time
mysql_pool:app_used_connections;state="used"};state="idle"}
mysql_pool:app_used_connections;"pool_name";"service_name"
mysql_pool:app_idle_connections;db_client_connections_usage{state="idle"};db_client_connections_usage_total{state="idle"}
MySQLDown;mysql_up == 0;mysql_up < 1.5
MySQLDown;for: 1m;for: 2m
MySQLConnectionsNearLimit;> 0.8;> 0.79
MySQLConnectionsNearLimit;for: 5m;for: 4m
MySQLConnectionsExhausted;>= 0.98;>= 0.97
MySQLConnectionsExhausted;{error="max_connections"};
MySQLConnectionsExhausted;for: 1m;for: 0m
MySQLConnectionsExhausted;min_over_time(;max_over_time(
MySQLConnectionChurn;{mysql_user!="other"};
MySQLConnectionChurn;> 20;> 19
MySQLLockWaitChain;for: 30s;for: 15s
MySQLPoolFullBetweenScrapes;>= 3;>= 1
MySQLPoolFullBetweenScrapes;for: 30s;for: 15s
MySQLPoolProcessExhausted;>= 1;>= 0.97
MySQLPoolProcessExhausted;mysql_pool_utilization_ratio >= 1;mysql_pool_utilization_ratio >= 2
MySQLPoolFullBetweenScrapes;mysql_pool_utilization_ratio >= 1;mysql_pool_utilization_ratio >= 2
MySQLPoolProcessExhausted;severity: critical;severity: warning
MySQLPoolLeakPredicted;3600);7200)
MySQLPoolLeakPredicted;for: 15m;for: 5m
MySQLExporterCollectorSkipped;collector=~"sessions|pools|locks|processlist";collector=~".+"
MySQLUserConnectionsNearLimit;{mysql_user!="other"};
MySQLUserConnectionsNearLimit;(mysql_global_variables_max_user_connections > 0);mysql_global_variables_max_user_connections
MySQLUserConnectionsNearLimit;for: 5m;for: 6m
MySQLAbortedConnectionsHigh;) > 0.1;) > 0.05
MySQLAbortedConnectionsHigh;[5m]) > 0.1;[5m]) > 0.01
MySQLAbortedConnectionsHigh;for: 10m;for: 9m
MySQLThreadsRunningHigh;> 40;>= 40
MySQLThreadsRunningHigh;for: 5m;for: 4m
MySQLPoolNearExhaustion;> 0.8;>= 0.8
MySQLPoolNearExhaustion;for: 5m;for: 4m
MySQLPoolExhausted;>= 1;> 0.98
MySQLPoolExhausted;for: 1m;for: 2m
MySQLPoolExhausted;severity: critical;severity: warning
MySQLPoolOvercommitted;> 1;>= 1
MySQLPoolOvercommitted;for: 15m;for: 10m
MySQLIdleInTransaction;> 30;>= 30
MySQLIdleInTransaction;sum by (job, instance, target) (mysql_pool:sessions:older_than_30s;0 * sum by (job, instance, target) (mysql_pool:sessions:older_than_30s
MySQLIdleInTransaction;for: 1m;for: 2m
MySQLLongRunningQuery;active|lock_wait"};active|idle|lock_wait"}
MySQLLongRunningQuery;for: 2m;for: 1m
MySQLExporterScrapeFailing;mysql_up == 0;mysql_up == 2
MySQLExporterScrapeFailing;job=~".*mysql.*";job=~".+"
MySQLExporterScrapeFailing;for: 5m;for: 4m
MySQLExporterScrapeFailing;runbooks/MySQLExporterScrapeFailing.md;runbooks/mysqlexporterscrapefailing.md
EOF

route_mutant_killed() {
  local dir="$WORK/am-mutant" receiver labels bad=0
  mkdir -p "$dir"
  sed 's/severity="critical"/severity="page"/' "$AM_CONFIG" >"$dir/alertmanager.yml"
  while read -r receiver labels; do
    [[ -z "$receiver" || "$receiver" == \#* ]] && continue
    # shellcheck disable=SC2086
    amtool config routes test --config.file="$dir/alertmanager.yml" --verify.receivers="$receiver" $labels >/dev/null 2>&1 || bad=1
  done <"$ROUTES"
  if ((bad == 0)); then
    echo "the routing table still passes with the critical route broken"
    return 1
  fi
}
check "mutant $AM_CONFIG: critical route matcher broken" route_mutant_killed

echo
summary
