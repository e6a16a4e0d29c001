#!/usr/bin/env bash
# Tests the monitoring mixin (mixin/) beyond the drift test of `scripts/generate_mixin.sh --check`:
#   1. jsonnetfmt: every jsonnet file of mixin/ and scripts/ is formatted
#   2. the rendered rules file reads back (YAML) as exactly the mixin's rules, and the
#      default thresholds of mixin/thresholds.jsonnet are the current alert values
#   3. overriding _config changes the expressions AND the texts: thresholds, for:, the
#      session-age cut (recording rule names, le=), selectors, label names, runbook base,
#      dashboard thresholds; `promtool check rules` accepts the overridden rules file
#   4. a session-age threshold that is not a histogram bucket boundary is refused
#
# Needs jsonnet, jsonnetfmt (Debian package `jsonnet`), promtool (package `prometheus`) and
# python3; reading YAML back needs PyYAML (Debian's python3-yaml for /usr/bin/python3).
# Prints one line per check and ends with "N passed, M failed"; exits non-zero if any failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=lib/common.sh
source "$ROOT/scripts/lib/common.sh"

missing=()
for tool in jsonnet jsonnetfmt promtool python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "test_mixin: missing ${missing[*]}: install the Debian packages 'jsonnet' and 'prometheus' first" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/test-mixin.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# check DESCRIPTION COMMAND...: scripts/lib/common.sh's check_logged (count, print, show the
# output on failure; never aborts the script).
check() { check_logged "$@"; }

# ------------------------------------------------------------------ 1: formatting
mapfile -t jsonnet_files < <(find mixin scripts -name '*.jsonnet' -o -name '*.libsonnet' | sort)
for f in "${jsonnet_files[@]}"; do
  check "jsonnetfmt --test $f" jsonnetfmt --test "$f"
done

# ------------------------------------------------------------------ 2: default render
render() { # render DIR [TLA_CODE]: the files the mixin renders, as generate_mixin.sh writes them
  bash scripts/generate_mixin.sh --render "$@"
}
mixin_json() { # mixin_json FILE [TLA_CODE]: the single-group rules object, as JSON
  local out="$1" code="${2:-import \"mixin.libsonnet\"}"
  jsonnet -J mixin --tla-code "mixin=$code" -e 'function(mixin) (import "lib/rules_file.libsonnet")(mixin)' >"$out"
}
# A python with PyYAML: python3 if it has it, else Debian's (python3-yaml, which
# scripts/test.sh installs).
YAML_PY=python3
python3 -c 'import yaml' 2>/dev/null || YAML_PY=/usr/bin/python3
# What the driver adds around std.manifestYamlDoc (comments, indentation) must not change a value.
yaml_reads_back() {
  local yml="$1" json="$2"
  "$YAML_PY" - "$yml" "$json" <<'EOF'
import json, sys, yaml
got = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
want = json.load(open(sys.argv[2], encoding="utf-8"))
if got != want:
    for a, b in zip(got["groups"][0]["rules"], want["groups"][0]["rules"]):
        if a != b:
            print("differs:", json.dumps(a)[:300], "\n   want:", json.dumps(b)[:300])
    sys.exit(1)
EOF
}

render "$WORK/default"
mixin_json "$WORK/default.json"
check "default: rendered rules file reads back as the mixin's rules" \
  yaml_reads_back "$WORK/default/alerting-rules/mysql_pool_exporter.rules.yml" "$WORK/default.json"

default_thresholds() {
  # Without overrides, the alerts' thresholds are mixin/thresholds.json's (the exporter's
  # defaults are built from the same file).
  jsonnet mixin/thresholds.jsonnet | python3 -c '
import json, sys
got = json.load(sys.stdin)
want = {k: v for k, v in json.load(open("mixin/thresholds.json")).items() if k in got}
if got != want or len(got) < 8:
    sys.exit("thresholds.jsonnet: %s, expected %s" % (got, want))
'
}
check "mixin/thresholds.jsonnet: without overrides, mixin/thresholds.json" default_thresholds

# ------------------------------------------------------------------ 3: overrides
OVERRIDE='(import "mixin.libsonnet") + { _config+:: {
  poolNearExhaustionThreshold: 0.7,
  poolNearExhaustionFor: "10m",
  connectionsCritical: 0.95,
  idleInTransactionSeconds: 60,
  threadsRunningHigh: 64,
  mysqlSelector: "job=\"db-exporter\"",
  instanceLabel: "server",
  runbookURLBase: "https://runbooks.example.org/mysql/",
} }'
render "$WORK/override" "$OVERRIDE"
mixin_json "$WORK/override.json" "$OVERRIDE"
OVR_RULES="$WORK/override/alerting-rules/mysql_pool_exporter.rules.yml"

check "override: promtool check rules accepts the overridden rules file" promtool check rules "$OVR_RULES"
check "override: rendered rules file reads back as the mixin's rules" yaml_reads_back "$OVR_RULES" "$WORK/override.json"

override_content() {
  python3 - "$WORK/override.json" "$WORK/override/dashboards" "$OVR_RULES" <<'EOF'
import json, os, sys
rules = json.load(open(sys.argv[1]))["groups"][0]["rules"]
dash_dir, rules_text = sys.argv[2], open(sys.argv[3]).read()
by = {r.get("alert") or r.get("record"): r for r in rules}
problems = []

def want(cond, what):
    if not cond:
        problems.append(what)

near = by["MySQLPoolNearExhaustion"]
want(near["expr"] == "mysql_pool_utilization_ratio > 0.7", "pool expr: %r" % near["expr"])
want(near["for"] == "10m", "pool for: %r" % near["for"])
want("above 70% for 10 minutes" in near["annotations"]["description"], "pool description: %r" % near["annotations"]["description"])
want("80%" not in near["annotations"]["description"], "pool description still says 80%")
exh = by["MySQLConnectionsExhausted"]
want(exh["expr"].startswith("mysql:connections:saturation_ratio >= 0.95"), "connections expr: %r" % exh["expr"])
threads = by["MySQLThreadsRunningHigh"]
want(threads["expr"] == "mysql:threads_running:avg5m > 64", "threads expr: %r" % threads["expr"])
want("above 64, for" in threads["annotations"]["description"], "threads description")
want("# 64 concurrently executing statements" in rules_text, "threads comment in the rules file")
# idle-in-transaction cut at 60 s: the same bucket as the long-query cut, one rule each
records = [r["record"] for r in rules if "record" in r]
want(records.count("mysql:sessions:older_than_60s") == 1 and "mysql:sessions:older_than_30s" not in records,
     "session-age records: %s" % records)
idle = by["MySQLIdleInTransaction"]
want("mysql_pool_oldest_idle_transaction_seconds > 60" in idle["expr"], "idle expr threshold")
want("older_than_30s" not in idle["expr"] and "mysql:sessions:older_than_60s" in idle["expr"], "idle expr records")
want("for more than 60 s" in idle["annotations"]["description"] and "30 s" not in idle["annotations"]["description"],
     "idle description: %r" % idle["annotations"]["description"])
# selector, label names, runbooks
scrape = by["MySQLExporterScrapeFailing"]
want('up{job="db-exporter"} == 0' in scrape["expr"], "scrape expr: %r" % scrape["expr"])
want("on (job, server, target)" in scrape["expr"], "scrape expr label: %r" % scrape["expr"])
want("$labels.server" in scrape["annotations"]["summary"] and "$labels.instance" not in json.dumps(rules),
     "instance label in the texts")
for r in rules:
    if "alert" in r:
        want(r["annotations"]["runbook_url"] == "https://runbooks.example.org/mysql/%s.md" % r["alert"],
             "runbook_url %s" % r["annotations"]["runbook_url"])
# dashboards
pool = json.load(open(os.path.join(dash_dir, "mysql-application-pool.json")))
sat = json.load(open(os.path.join(dash_dir, "mysql-connection-saturation.json")))
p = next(p for p in pool["panels"] if p["title"] == "Pool utilisation")
steps = [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
want(steps == [None, 0.7, 1], "pool dashboard steps %s" % steps)
want("Orange from 70 %" in p["description"], "pool panel description")
p = next(p for p in sat["panels"] if p["title"] == "Sessions past the alert thresholds")
want('le="60"' in p["targets"][0]["expr"] and p["targets"][0]["legendFormat"].endswith("> 60 s"),
     "idle bucket in the dashboard: %r" % p["targets"][0]["expr"])
want('server=~"$instance"' in p["targets"][0]["expr"], "instance label in the dashboard queries")
want(all("{{instance}}" not in json.dumps(d) for d in (pool, sat)), "instance label in the dashboard legends")
if problems:
    print("\n".join(problems))
    sys.exit(1)
EOF
}
check "override: expressions, for:, texts, record names, selectors, labels, runbooks, dashboards follow _config" override_content

override_thresholds() {
  jsonnet -J mixin --tla-code "mixin=$OVERRIDE" mixin/thresholds.jsonnet | python3 -c '
import json, sys
t = json.load(sys.stdin)
if (t["pool_utilization_warning"], t["idle_in_transaction_seconds"], t["connections_critical"]) != (0.7, 60, 0.95):
    sys.exit("thresholds.jsonnet ignores the override: %s" % t)
'
}
check "override: mixin/thresholds.jsonnet follows _config" override_thresholds

# ------------------------------------------------------------------ 3b: exporterSelector
# Every series the rules and alerts read from the exporter carries the selector, and a
# mysqld_exporter scraped into the same Prometheus (same metric names, another job) raises
# nothing: promtool runs the alerts on both jobs' series.
SEL_OVERRIDE='(import "mixin.libsonnet") + { _config+:: { exporterSelector: "job=\"pool\"" } }'
render "$WORK/selector" "$SEL_OVERRIDE"
SEL_RULES="$WORK/selector/alerting-rules/mysql_pool_exporter.rules.yml"
check "exporterSelector: promtool check rules accepts the rules file" promtool check rules "$SEL_RULES"
every_series_selected() {
  "$YAML_PY" - "$SEL_RULES" <<'EOF'
import re, sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))["groups"][0]["rules"]
bad = []
for r in rules:
    # raw series: mysql_* names that are not recording rules (those have a colon), outside
    # the label lists of by/on/ignoring/without/group_* (a label may be called mysql_user)
    expr = re.sub(r"\b(by|on|ignoring|without|group_left|group_right)\s*\([^)]*\)", "", r["expr"])
    for m in re.finditer(r"\b(mysql_[a-z_]+)\b(?!:)(\{[^}]*\})?", expr):
        if 'job="pool"' not in (m.group(2) or ""):
            bad.append("%s: %s%s" % (r.get("alert") or r.get("record"), m.group(1), m.group(2) or ""))
if bad:
    sys.exit("\n".join(bad))
EOF
}
check "exporterSelector: on every raw series of every rule and alert" every_series_selected
cat >"$WORK/selector/test.yml" <<'EOF'
rule_files: [alerting-rules/mysql_pool_exporter.rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      # mysqld_exporter says 0 while the server is full; ours is connected
      - series: 'mysql_up{job="mysqld", instance="db1"}'
        values: '0x20'
      - series: 'mysql_up{job="pool", instance="db1"}'
        values: '1x20'
      - series: 'mysql_up{job="pool", instance="db2"}'
        values: '0x20'
    promql_expr_test:
      - expr: ALERTS{alertname="MySQLDown", alertstate="firing"}
        eval_time: 5m
        exp_samples:
          - labels: 'ALERTS{alertname="MySQLDown", alertstate="firing", severity="critical", job="pool", instance="db2"}'
            value: 1
EOF
only_our_job_alerts() { (cd "$WORK/selector" && promtool test rules test.yml); }
check "exporterSelector: MySQLDown fires for the exporter's job only, not for a mysqld_exporter's" only_our_job_alerts

# ------------------------------------------------------------------ 3c: users left out
# longQueryExcludedUsers: a backup's hour-long statement does not fire MySQLLongRunningQuery,
# an app's 2-minute one on the same server still does.
render "$WORK/excluded" '(import "mixin.libsonnet") + { _config+:: { longQueryExcludedUsers: "backup|report" } }'
cat >"$WORK/excluded/test.yml" <<'EOF'
rule_files: [alerting-rules/mysql_pool_exporter.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # db1: only the backup runs long. db2: the backup and an app statement of 2 minutes.
      - series: 'mysql_session_age_seconds_count{job="mysql", instance="db1", state="active"}'
        values: '3x10'
      - series: 'mysql_session_age_seconds_bucket{job="mysql", instance="db1", state="active", le="60"}'
        values: '2x10'
      - series: 'mysql_oldest_statement_seconds{job="mysql", instance="db1", mysql_user="backup", state="active"}'
        values: '3600+60x10'
      - series: 'mysql_oldest_statement_seconds{job="mysql", instance="db1", mysql_user="kefu", state="active"}'
        values: '1x10'
      - series: 'mysql_session_age_seconds_count{job="mysql", instance="db2", state="active"}'
        values: '3x10'
      - series: 'mysql_session_age_seconds_bucket{job="mysql", instance="db2", state="active", le="60"}'
        values: '1x10'
      - series: 'mysql_oldest_statement_seconds{job="mysql", instance="db2", mysql_user="backup", state="active"}'
        values: '3600+60x10'
      - series: 'mysql_oldest_statement_seconds{job="mysql", instance="db2", mysql_user="kefu", state="active"}'
        values: '120+60x10'
    promql_expr_test:
      - expr: ALERTS{alertname="MySQLLongRunningQuery", alertstate="firing"}
        eval_time: 5m
        exp_samples:
          - labels: 'ALERTS{alertname="MySQLLongRunningQuery", alertstate="firing", severity="warning", job="mysql", instance="db2", state="active"}'
            value: 1
EOF
excluded_users_stay_quiet() { (cd "$WORK/excluded" && promtool test rules test.yml); }
check "longQueryExcludedUsers: a backup's long statement is silent, an app's still fires" excluded_users_stay_quiet

# ------------------------------------------------------------------ 4: refused overrides
not_a_bucket() {
  if render "$WORK/bad" '(import "mixin.libsonnet") + { _config+:: { idleInTransactionSeconds: 45 } }' 2>"$WORK/bad.err"; then
    echo "idleInTransactionSeconds: 45 (no bucket boundary) was accepted"
    return 1
  fi
  grep -q "must be one of sessionAgeBuckets" "$WORK/bad.err" || { cat "$WORK/bad.err"; return 1; }
}
check "override: a session-age threshold off the bucket boundaries is refused" not_a_bucket

echo
summary
