#!/usr/bin/env python3
"""Structural lint of the bundled Grafana dashboards (python3 standard library only).

Usage:
    scripts/lint_dashboards.py [--metrics docs/metrics.md] [--promtool PATH|--no-promtool] [FILE ...]
    scripts/lint_dashboards.py --self-test

Without FILE arguments every dashboards/*.json of the repository is checked.  For each file:

  * valid JSON; `uid` present and unique across the files; `title` present;
  * a `datasource` template variable of type datasource (query: prometheus), and no panel,
    target or query variable whose datasource is anything but that variable (no hard-coded UID);
  * template variables `job` and `instance`, and `pool` (multi + include All) when any query uses
    a metric that has a `pool` label;
  * unique panel ids, every non-row panel has a description, a unit
    (fieldConfig.defaults.unit), at least one target with a non-empty expr, unique refIds, and a
    gridPos with width 1..24, x + w <= 24, and no two panels overlapping;
  * every metric name used by a query exists in docs/metrics.md (the backticked names;
    histograms add _bucket/_count/_sum), recording rules (names containing ':') and the
    Prometheus built-ins ALERTS and up are allowed; label matchers name labels the metric has;
  * every selector filters `job=~"$job"` and `instance=~"$instance"` (and `pool=~"$pool"` when the
    metric has a pool label); ALERTS selectors must sit in a target whose refId starts with
    ALERTS (so scripts/dashboard_queries.py flags them as possibly empty);
  * thresholds match the alert rules: connections / max_connections 0.8 and 0.98, pool
    utilisation 0.8 and 1.0, idle-in-transaction age 30 s, threads running 40; session-age
    bucket selectors use le="30" for idle_in_transaction and le="60" for active/lock_wait;
  * when promtool is on PATH (or given with --promtool), every query, with its template
    variables substituted as scripts/dashboard_queries.py does, must parse (promtool check rules).

Every problem is printed as `FILE: panel ID "TITLE": message`.  The last line is
`N passed, M failed` (dashboard files); the exit status is 1 when anything failed.

--self-test runs the linter on the real dashboards (must pass), on every fixture in
tests/fixtures/dashboards-bad/ (each must be rejected with the message named by its
`__lint_expect` key) and on in-memory mutations of the real dashboards (each must be rejected
with the expected message).  It prints `N passed, M failed` over those cases.
"""

import argparse
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import dashboard_queries  # noqa: E402  (sibling script: variable substitution, query listing)

# Alert thresholds (alerting-rules/): the dashboards' thresholds must match these.
CONNECTIONS_WARNING, CONNECTIONS_CRITICAL = 0.8, 0.98
POOL_WARNING, POOL_CRITICAL = 0.8, 1.0
IDLE_IN_TRANSACTION_SECONDS = 30
LONG_QUERY_SECONDS = 60
THREADS_RUNNING_HIGH = 40

BUILTIN_METRICS = {"ALERTS": None, "ALERTS_FOR_STATE": None, "up": set()}
ALWAYS_LABELS = {"job", "instance", "__name__"}
DATASOURCE_REFS = ("${datasource}", "$datasource")
MAY_BE_EMPTY_PREFIXES = dashboard_queries.MAY_BE_EMPTY_PREFIXES


# --------------------------------------------------------------------------- metrics.md
def load_metrics(path):
    """Return {metric name: set of label names, or None when unknown} from docs/metrics.md."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    metrics = {}

    def add(name, labels, histogram):
        names = [name + s for s in ("_bucket", "_count", "_sum")] if histogram else [name]
        for n in names:
            lab = set(labels) | ({"le"} if n.endswith("_bucket") and histogram else set())
            metrics.setdefault(n, set()).update(lab)

    # Label names (table label cells and `name{a,b}`), so that a backticked label such as
    # `mysql_user` in prose is not taken for a metric.
    label_names = set()
    # Table rows: | `name` | type | labels | meaning |
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if len(cells) >= 3:
            m = re.fullmatch(r"`(mysql_[a-z0-9_]+)`", cells[0])
            if m:
                labels = re.findall(r"`([a-zA-Z_][a-zA-Z0-9_]*)`", cells[2])
                label_names.update(labels)
                add(m.group(1), labels, "histogram" in cells[1])
    for m in re.finditer(r"`mysql_[a-z0-9_]+\{([a-z0-9_, ]*)\}`", text):
        label_names.update(x.strip() for x in m.group(1).split(",") if x.strip())
    # Names in prose: `mysql_x` or `mysql_x{a,b}` (templates such as `mysql_global_status_<var>` are skipped).
    for m in re.finditer(r"`(mysql_[a-z0-9_]+)(?:\{([a-z0-9_, ]*)\})?`", text):
        name, labels = m.group(1), m.group(2)
        if name in label_names and name not in metrics:
            continue
        if name in metrics or any(name == k.rsplit("_", 1)[0] for k in metrics if k.endswith("_bucket")):
            if labels:
                metrics.setdefault(name, set()).update(x.strip() for x in labels.split(",") if x.strip())
            continue
        metrics[name] = set(x.strip() for x in labels.split(",") if x.strip()) if labels else set()
    return metrics


# --------------------------------------------------------------------------- PromQL scanning
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class PromQLError(Exception):
    pass


def _skip_string(s, i):
    q = s[i]
    i += 1
    while i < len(s):
        if s[i] == "\\" and q != "`":
            i += 2
            continue
        if s[i] == q:
            return i + 1
        i += 1
    raise PromQLError("unterminated string")


def _read_string(s, i):
    end = _skip_string(s, i)
    raw = s[i + 1:end - 1]
    if s[i] != "`":
        raw = re.sub(r"\\(.)", r"\1", raw)
    return raw, end


def _skip_ws(s, i):
    while i < len(s) and (s[i].isspace() or s[i] == "#"):
        if s[i] == "#":
            while i < len(s) and s[i] != "\n":
                i += 1
        else:
            i += 1
    return i


def _parse_matchers(s, i):
    """s[i] == '{'; return ([(label, op, value)], index after '}')."""
    i += 1
    out = []
    while True:
        i = _skip_ws(s, i)
        if i >= len(s):
            raise PromQLError("unterminated label matcher list")
        if s[i] == "}":
            return out, i + 1
        if s[i] == ",":
            i += 1
            continue
        if s[i] in "\"'":
            label, i = _read_string(s, i)
        else:
            m = IDENT.match(s, i)
            if not m:
                raise PromQLError("bad label matcher at %r" % s[i:i + 20])
            label, i = m.group(0), m.end()
        i = _skip_ws(s, i)
        if s[i:i + 2] in ("=~", "!=", "!~"):
            op, i = s[i:i + 2], i + 2
        elif s[i:i + 1] == "=":
            op, i = "=", i + 1
        else:
            if label and not out and s[_skip_ws(s, i):_skip_ws(s, i) + 1] in ",}":
                out.append(("__name__", "=", label))  # {"metric_name"} form
                continue
            raise PromQLError("bad label matcher operator at %r" % s[i:i + 20])
        i = _skip_ws(s, i)
        if i >= len(s) or s[i] not in "\"'`":
            raise PromQLError("label matcher value must be a string near %r" % s[i:i + 20])
        value, i = _read_string(s, i)
        out.append((label, op, value))


def selectors(expr):
    """Return [(metric name or None, [(label, op, value)])] for every vector selector in expr."""
    s, i, out = expr, 0, []
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c == "#":
            i = _skip_ws(s, i)
        elif c in "\"'`":
            i = _skip_string(s, i)
        elif c == "[":
            j = s.find("]", i)
            if j < 0:
                raise PromQLError("unterminated range")
            i = j + 1
        elif c == "{":
            matchers, i = _parse_matchers(s, i)
            names = [v for (l, o, v) in matchers if l == "__name__" and o == "="]
            out.append((names[0] if names else None, matchers))
        elif c == "$":
            m = re.compile(r"\$\{?\w+(:\w+)?\}?").match(s, i)
            i = m.end() if m else i + 1
        elif c.isdigit() or (c == "." and i + 1 < len(s) and s[i + 1].isdigit()):
            m = re.compile(r"[0-9a-zA-Z_.]+").match(s, i)
            i = m.end()
        elif IDENT.match(s, i):
            m = IDENT.match(s, i)
            word, i = m.group(0), m.end()
            j = _skip_ws(s, i)
            nxt = s[j] if j < len(s) else ""
            low = word.lower()
            if low in GROUPING:
                if nxt == "(":
                    k = s.find(")", j)
                    if k < 0:
                        raise PromQLError("unterminated %s(...)" % word)
                    i = k + 1
            elif nxt == "(":
                pass  # function or aggregation
            elif low in AGGREGATIONS and re.match(r"(by|without)\s*\(", s[j:], re.I):
                pass  # sum by (...) (...)
            elif low in KEYWORDS:
                pass
            else:
                if nxt == "{":
                    matchers, i = _parse_matchers(s, j)
                else:
                    matchers = []
                out.append((word, matchers))
        else:
            i += 1
    return out


# --------------------------------------------------------------------------- helpers
def walk_panels(panels):
    for p in panels or []:
        yield p
        if p.get("type") == "row":
            for q in walk_panels(p.get("panels")):
                yield q


def is_ds_var(ds):
    if isinstance(ds, str):
        return ds in DATASOURCE_REFS
    if isinstance(ds, dict):
        return ds.get("uid") in DATASOURCE_REFS and ds.get("type", "prometheus") == "prometheus"
    return False


def threshold_sets(panel):
    fc = panel.get("fieldConfig") or {}
    sets = []
    d = (fc.get("defaults") or {}).get("thresholds")
    if d:
        sets.append(d)
    for o in fc.get("overrides") or []:
        for prop in o.get("properties") or []:
            if prop.get("id") == "thresholds" and isinstance(prop.get("value"), dict):
                sets.append(prop["value"])
    result = []
    for t in sets:
        vals = sorted(float(s["value"]) for s in t.get("steps") or [] if s.get("value") is not None)
        result.append((t.get("mode", "absolute"), vals))
    return result


def units(panel):
    fc = panel.get("fieldConfig") or {}
    out = set()
    u = (fc.get("defaults") or {}).get("unit")
    if u:
        out.add(u)
    for o in fc.get("overrides") or []:
        for prop in o.get("properties") or []:
            if prop.get("id") == "unit" and prop.get("value"):
                out.add(prop["value"])
    return out


def var_query_text(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query", "")
    return q or v.get("definition", "") or ""


# --------------------------------------------------------------------------- the checks
class Linter:
    def __init__(self, metrics, promtool=None):
        self.metrics = metrics
        self.promtool = promtool
        self.problems = []  # (file, message)

    def err(self, fname, panel, msg):
        where = os.path.relpath(fname, ROOT) if os.path.abspath(fname).startswith(ROOT + os.sep) else fname
        if panel is not None:
            where += ': panel %s "%s"' % (panel.get("id"), panel.get("title", ""))
        self.problems.append((fname, "%s: %s" % (where, msg)))

    def lint_files(self, files):
        uids = {}
        for fname in files:
            try:
                with open(fname, encoding="utf-8") as f:
                    dash = json.load(f)
            except (OSError, ValueError) as e:
                self.err(fname, None, "not valid JSON: %s" % e)
                continue
            self.lint_dashboard(fname, dash)
            uid = dash.get("uid") if isinstance(dash, dict) else None
            if uid:
                if uid in uids:
                    other = uids[uid]
                    if os.path.abspath(other).startswith(ROOT + os.sep):
                        other = os.path.relpath(other, ROOT)
                    self.err(fname, None, 'uid "%s" is also used by %s' % (uid, other))
                else:
                    uids[uid] = fname
        failed = sorted({f for f, _ in self.problems})
        return failed

    def lint_dashboard(self, fname, dash):
        if not isinstance(dash, dict):
            self.err(fname, None, "top level is not a JSON object")
            return
        uid = dash.get("uid")
        if not isinstance(uid, str) or not uid.strip():
            self.err(fname, None, "no uid (dashboards need a stable uid for links and provisioning)")
        elif not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid):
            self.err(fname, None, 'uid "%s" must be 1..40 characters of [a-zA-Z0-9_-]' % uid)
        if not isinstance(dash.get("title"), str) or not dash["title"].strip():
            self.err(fname, None, "no title")
        if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
            self.err(fname, None, "schemaVersion missing or older than 36 (Grafana 9+)")

        variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list") or []}
        dsv = variables.get("datasource")
        if not dsv or dsv.get("type") != "datasource" or dsv.get("query") != "prometheus":
            self.err(fname, None, 'no template variable "datasource" of type datasource with query prometheus')
        for name in ("job", "instance"):
            if name not in variables:
                self.err(fname, None, 'no template variable "%s"' % name)
        for name, v in variables.items():
            if v.get("type") == "query":
                if not is_ds_var(v.get("datasource")):
                    self.err(fname, None, 'template variable "%s": datasource %s is not the ${datasource} variable'
                             % (name, json.dumps(v.get("datasource"))))
                self.check_var_query(fname, name, var_query_text(v))

        panels = dash.get("panels")
        if not isinstance(panels, list) or not panels:
            self.err(fname, None, "no panels")
            return
        ids = {}
        uses_pool_metric = False
        for p in walk_panels(panels):
            pid = p.get("id")
            if not isinstance(pid, int):
                self.err(fname, p, "panel id missing or not an integer")
            elif pid in ids:
                self.err(fname, p, 'panel id %s also used by "%s"' % (pid, ids[pid].get("title")))
            else:
                ids[pid] = p
            uses_pool_metric |= self.lint_panel(fname, p, variables)
        if uses_pool_metric:
            pv = variables.get("pool")
            if not pv:
                self.err(fname, None, 'queries use metrics with a pool label but there is no template variable "pool"')
            elif not (pv.get("multi") and pv.get("includeAll")):
                self.err(fname, None, 'template variable "pool" must be multi-value with include All')
        self.check_layout(fname, [p for p in panels])
        for p in panels:
            if p.get("type") == "row" and p.get("collapsed") and p.get("panels"):
                self.check_layout(fname, p["panels"])
        if self.promtool:
            self.check_promql_syntax(fname, dash)

    def check_var_query(self, fname, name, q):
        m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q, re.S)
        sel_text = m.group(1) if m else None
        if m is None:
            m2 = re.fullmatch(r"\s*(label_values|query_result)\((.*)\)\s*", q, re.S)
            sel_text = m2.group(2) if m2 else None
        if not sel_text:
            return
        try:
            sels = selectors(sel_text)
        except PromQLError as e:
            self.err(fname, None, 'template variable "%s": cannot parse query: %s' % (name, e))
            return
        for metric, _ in sels:
            if metric and not self.known_metric(metric):
                self.err(fname, None, 'template variable "%s": metric "%s" is not in docs/metrics.md' % (name, metric))

    def known_metric(self, metric):
        return metric in self.metrics or metric in BUILTIN_METRICS or ":" in metric

    def metric_labels(self, metric):
        if metric in self.metrics:
            return self.metrics[metric]
        return BUILTIN_METRICS.get(metric)  # None: unknown label set

    def lint_panel(self, fname, p, variables):
        """Check one panel; return True when its queries use a metric with a pool label."""
        ptype = p.get("type")
        if not ptype:
            self.err(fname, p, "panel has no type")
        gp = p.get("gridPos")
        if not isinstance(gp, dict) or not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")):
            self.err(fname, p, "gridPos missing or incomplete (needs integer x, y, w, h)")
        else:
            if not 1 <= gp["w"] <= 24:
                self.err(fname, p, "gridPos width %s is not within 1..24" % gp["w"])
            if gp["x"] < 0 or gp["x"] + gp["w"] > 24:
                self.err(fname, p, "gridPos x + w = %s exceeds the 24 columns" % (gp["x"] + gp["w"]))
            if gp["h"] < 1 or gp["y"] < 0:
                self.err(fname, p, "gridPos height must be >= 1 and y >= 0")
        if ptype == "row":
            if "datasource" in p and p["datasource"] is not None and not is_ds_var(p["datasource"]):
                self.err(fname, p, "row datasource %s is not the ${datasource} variable" % json.dumps(p["datasource"]))
            return False
        if not str(p.get("title", "")).strip():
            self.err(fname, p, "panel has no title")
        if not str(p.get("description", "")).strip():
            self.err(fname, p, "no description (say what the panel shows and what to do when it is red)")
        if not is_ds_var(p.get("datasource")):
            self.err(fname, p, 'datasource %s is not {"type":"prometheus","uid":"${datasource}"}'
                     % json.dumps(p.get("datasource")))
        unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit:
            self.err(fname, p, "no unit (set fieldConfig.defaults.unit: percentunit, s, short, ...)")
        targets = p.get("targets") or []
        exprs = []
        refids = set()
        for t in targets:
            if "datasource" in t and not is_ds_var(t["datasource"]):
                self.err(fname, p, "target %s: datasource %s is not the ${datasource} variable"
                         % (t.get("refId"), json.dumps(t["datasource"])))
            ref = t.get("refId")
            if not ref:
                self.err(fname, p, "target without refId")
            elif ref in refids:
                self.err(fname, p, "refId %s used twice" % ref)
            refids.add(ref)
            expr = t.get("expr")
            if isinstance(expr, str) and expr.strip():
                exprs.append((ref, expr))
        if not exprs:
            self.err(fname, p, "no target with a non-empty expr")
        uses_pool = False
        all_sels = []
        for ref, expr in exprs:
            try:
                sels = selectors(expr)
            except PromQLError as e:
                self.err(fname, p, "target %s: cannot parse expr: %s" % (ref, e))
                continue
            if not sels:
                self.err(fname, p, "target %s: expr selects no metric" % ref)
            for metric, matchers in sels:
                all_sels.append((ref, metric, matchers))
                uses_pool |= self.check_selector(fname, p, ref, metric, matchers)
            for var in sorted(set(re.findall(r"\$\{?(\w+)", expr))):
                if not var.startswith("__") and var not in variables:
                    self.err(fname, p, "target %s: uses $%s, which is not a template variable" % (ref, var))
        self.check_thresholds(fname, p, all_sels)
        return uses_pool

    def check_selector(self, fname, p, ref, metric, matchers):
        if metric is None:
            self.err(fname, p, "target %s: selector without a metric name" % ref)
            return False
        if not self.known_metric(metric):
            self.err(fname, p, 'target %s: metric "%s" is not in docs/metrics.md' % (ref, metric))
            return False
        if metric.startswith("ALERTS") and not str(ref).startswith("ALERTS"):
            self.err(fname, p, 'target %s: ALERTS may be empty; give the target a refId starting with "ALERTS"'
                     % ref)
        by_label = {}
        for label, op, value in matchers:
            by_label.setdefault(label, []).append((op, value))
        labels = self.metric_labels(metric)
        if labels is not None:
            for label in by_label:
                if label not in labels and label not in ALWAYS_LABELS:
                    self.err(fname, p, 'target %s: %s has no label "%s" (labels: %s)'
                             % (ref, metric, label, ", ".join(sorted(labels)) or "none"))
        required = ["job", "instance"]
        has_pool = labels is not None and "pool" in labels
        if has_pool:
            required.append("pool")
        for label in required:
            ok = any(op == "=~" and ("$" + label in v or "${" + label + "}" in v) for op, v in by_label.get(label, []))
            if not ok:
                self.err(fname, p, 'target %s: %s must be filtered by %s=~"$%s"' % (ref, metric, label, label))
        # Session-age bucket selectors must count past the alert thresholds.
        if metric.endswith("session_age_seconds_bucket") and "le" in by_label:
            states = " ".join(v for op, v in by_label.get("state", []))
            le = [v for op, v in by_label["le"]]
            if "idle_in_transaction" in states and le != [str(IDLE_IN_TRANSACTION_SECONDS)]:
                self.err(fname, p, 'target %s: idle_in_transaction age must be cut at le="%s" '
                         '(the MySQLIdleInTransaction threshold), not %s' % (ref, IDLE_IN_TRANSACTION_SECONDS, le))
            if ("active" in states or "lock_wait" in states) and le != [str(LONG_QUERY_SECONDS)]:
                self.err(fname, p, 'target %s: active/lock_wait age must be cut at le="%s" '
                         '(the MySQLLongRunningQuery threshold), not %s' % (ref, LONG_QUERY_SECONDS, le))
        return has_pool

    def check_thresholds(self, fname, p, sels):
        metrics = {m for _, m, _ in sels}
        unit_set = units(p)
        tsets = threshold_sets(p)

        def require(kind, expected):
            exp = sorted(float(x) for x in expected)
            if not any(mode == "absolute" and vals == exp for mode, vals in tsets):
                found = "; ".join("%s %s" % (m, v) for m, v in tsets) or "none"
                self.err(fname, p, "%s thresholds must be absolute %s (the alert thresholds), found %s"
                         % (kind, exp, found))

        if "percentunit" in unit_set:
            if {"mysql_global_status_threads_connected", "mysql_global_variables_max_connections"} <= metrics:
                require("connection saturation", (CONNECTIONS_WARNING, CONNECTIONS_CRITICAL))
            if "mysql_pool_utilization_ratio" in metrics or \
                    {"mysql_pool_sessions", "mysql_pool_capacity"} <= metrics:
                require("pool utilisation", (POOL_WARNING, POOL_CRITICAL))
        if "s" in unit_set and metrics & {"mysql_pool_oldest_idle_transaction_seconds",
                                          "mysql_oldest_transaction_seconds"}:
            require("idle-in-transaction age", (IDLE_IN_TRANSACTION_SECONDS,))
        if metrics == {"mysql_global_status_threads_running"} and "short" in unit_set:
            require("threads running", (THREADS_RUNNING_HIGH,))

    def check_layout(self, fname, panels):
        rects = []
        for p in panels:
            gp = p.get("gridPos")
            if isinstance(gp, dict) and all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")):
                rects.append((p, gp))
        for i, (p, a) in enumerate(rects):
            for q, b in rects[i + 1:]:
                if a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and \
                        a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]:
                    self.err(fname, p, 'gridPos %s overlaps panel %s "%s" at %s'
                             % (json.dumps(a, sort_keys=True), q.get("id"), q.get("title"),
                                json.dumps(b, sort_keys=True)))

    def check_promql_syntax(self, fname, dash):
        try:
            queries = dashboard_queries.dashboard_queries(dash, fname, {})
        except dashboard_queries.QueryError as e:
            self.err(fname, None, "cannot substitute template variables: %s" % e)
            return
        if not queries:
            return
        with tempfile.TemporaryDirectory() as tmp:
            rules = os.path.join(tmp, "rules.yml")
            with open(rules, "w") as f:
                f.write("groups:\n- name: dashboard_queries\n  rules:\n")
                for n, q in enumerate(queries):
                    f.write("  - record: dashboard_query:%d\n    expr: %s\n" % (n, json.dumps(q["expr"])))
            r = subprocess.run([self.promtool, "check", "rules", rules], capture_output=True, text=True)
            if r.returncode == 0:
                return
            out = r.stdout + r.stderr
            bad = set(int(x) for x in re.findall(r"dashboard_query:(\d+)", out))
            # promtool names the group/rule index rather than the record; fall back to one query at a time
            for n, q in enumerate(queries):
                if bad and n not in bad:
                    continue
                with open(rules, "w") as f:
                    f.write("groups:\n- name: q\n  rules:\n  - record: q\n    expr: %s\n" % json.dumps(q["expr"]))
                r1 = subprocess.run([self.promtool, "check", "rules", rules], capture_output=True, text=True)
                if r1.returncode != 0:
                    msg = " ".join((r1.stdout + r1.stderr).split())
                    self.err(fname, {"id": q["panel_id"], "title": q["title"]},
                             "target %s: PromQL does not parse (promtool): %s" % (q["ref_id"], msg[-300:]))


# --------------------------------------------------------------------------- main
def find_promtool(args):
    if args.no_promtool:
        return None
    if args.promtool:
        return args.promtool
    return shutil.which("promtool")


def run_lint(files, metrics_path, promtool, quiet=False):
    metrics = load_metrics(metrics_path)
    linter = Linter(metrics, promtool)
    failed = linter.lint_files(files)
    if not quiet:
        for _, msg in linter.problems:
            print(msg)
    return linter, failed


def self_test(args):
    metrics_path = args.metrics
    promtool = find_promtool(args)
    real = sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    results = []  # (name, ok, detail)

    def expect_fail(name, files, expected):
        linter, failed = run_lint(files, metrics_path, promtool, quiet=True)
        msgs = [m for _, m in linter.problems]
        ok = bool(failed) and any(expected.lower() in m.lower() for m in msgs)
        detail = ("rejected: " + next(m for m in msgs if expected.lower() in m.lower())) if ok else \
            ("NOT rejected as expected (%r); linter said: %s" % (expected, msgs or "nothing"))
        results.append((name, ok, detail))

    if not real:
        results.append(("real dashboards exist", False, "no dashboards/*.json"))
    else:
        linter, failed = run_lint(real, metrics_path, promtool, quiet=True)
        results.append(("real dashboards pass", not failed,
                        "ok" if not failed else "; ".join(m for _, m in linter.problems)))

    fixture_dir = os.path.join(ROOT, "tests", "fixtures", "dashboards-bad")
    fixtures = sorted(glob.glob(os.path.join(fixture_dir, "*.json")))
    if not fixtures:
        results.append(("negative fixtures exist", False, "no %s/*.json" % fixture_dir))
    for fx in fixtures:
        try:
            with open(fx, encoding="utf-8") as f:
                expected = json.load(f).get("__lint_expect", "")
        except ValueError:
            expected = "not valid JSON"
        if not expected:
            results.append((os.path.relpath(fx, ROOT), False, "fixture has no __lint_expect key"))
            continue
        expect_fail(os.path.relpath(fx, ROOT), [fx], expected)

    # In-memory mutations of the real dashboards: each must be caught.
    def find(dash, pred):
        return next(p for p in walk_panels(dash["panels"]) if p.get("type") != "row" and pred(p))

    def first_expr_with(text):
        return lambda p: any(text in t.get("expr", "") for t in p.get("targets", []))

    def m_overlap(d):
        ps = [p for p in d["panels"] if p.get("type") != "row"]
        ps[1]["gridPos"] = dict(ps[0]["gridPos"], x=ps[0]["gridPos"]["x"] + 1)

    def m_no_unit(d):
        del find(d, lambda p: True)["fieldConfig"]["defaults"]["unit"]

    def m_hardcoded_panel_ds(d):
        find(d, lambda p: True)["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}

    def m_hardcoded_target_ds(d):
        find(d, lambda p: True)["targets"][0]["datasource"] = {"type": "prometheus", "uid": "prometheus"}

    def m_dup_id(d):
        ps = [p for p in d["panels"] if p.get("type") != "row"]
        ps[1]["id"] = ps[0]["id"]

    def m_too_wide(d):
        gp = find(d, lambda p: True)["gridPos"]
        gp["x"] = 25 - gp["w"]

    def m_no_gridpos(d):
        del find(d, lambda p: True)["gridPos"]

    def m_no_description(d):
        find(d, lambda p: True)["description"] = ""

    def m_no_pool_var(d):
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "pool"]

    def m_unknown_metric(d):
        t = find(d, lambda p: True)["targets"][0]
        t["expr"] = t["expr"].replace("mysql_", "mysql_nonexistent_", 1)

    def m_no_job(d):
        t = find(d, lambda p: True)["targets"][0]
        t["expr"] = t["expr"].replace('job=~"$job", ', "", 1)

    def m_no_pool(d):
        t = find(d, first_expr_with("mysql_pool_utilization_ratio"))["targets"][0]
        t["expr"] = t["expr"].replace(', pool=~"$pool"', "")

    def m_pool_threshold(d):
        p = find(d, first_expr_with("mysql_pool_utilization_ratio"))
        p["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] = 0.95

    def m_conn_threshold(d):
        p = find(d, first_expr_with("mysql_global_variables_max_connections"))
        p["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] = 0.9

    def m_threads_threshold(d):
        p = find(d, first_expr_with("mysql_global_status_threads_running"))
        p["fieldConfig"]["defaults"]["thresholds"]["steps"] = [{"color": "green", "value": None}]

    def m_idle_bucket(d):
        p = find(d, first_expr_with('le="30"'))
        for t in p["targets"]:
            t["expr"] = t["expr"].replace('le="30"', 'le="60"')

    def m_empty_expr(d):
        p = find(d, lambda p: True)
        for t in p["targets"]:
            t["expr"] = " "

    def m_no_ds_var(d):
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "datasource"]

    def m_no_instance_var(d):
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "instance"]

    def m_no_uid(d):
        del d["uid"]

    def m_alerts_refid(d):
        find(d, first_expr_with("ALERTS"))["targets"][0]["refId"] = "A"

    def m_bad_label(d):
        t = find(d, first_expr_with("mysql_sessions{"))["targets"][0]
        t["expr"] = t["expr"].replace('mysql_sessions{', 'mysql_sessions{user="kefu", ', 1)

    def m_bad_promql(d):
        t = find(d, lambda p: True)["targets"][0]
        t["expr"] = "sum by (instance) (" + t["expr"]

    mutations = [
        ("overlapping panels", m_overlap, "overlaps panel"),
        ("missing unit", m_no_unit, "no unit"),
        ("hard-coded panel datasource", m_hardcoded_panel_ds, "is not {\"type\":\"prometheus\""),
        ("hard-coded target datasource", m_hardcoded_target_ds, "is not the ${datasource} variable"),
        ("duplicate panel id", m_dup_id, "also used by"),
        ("panel past column 24", m_too_wide, "exceeds the 24 columns"),
        ("unknown metric", m_unknown_metric, "is not in docs/metrics.md"),
        ("query without job filter", m_no_job, 'must be filtered by job=~"$job"'),
        ("pool metric without pool filter", m_no_pool, 'must be filtered by pool=~"$pool"'),
        ("pool threshold off", m_pool_threshold, "pool utilisation thresholds"),
        ("empty expr", m_empty_expr, "no target with a non-empty expr"),
        ("no datasource variable", m_no_ds_var, 'no template variable "datasource"'),
        ("no instance variable", m_no_instance_var, 'no template variable "instance"'),
        ("no uid", m_no_uid, "no uid"),
        ("no gridPos", m_no_gridpos, "gridPos missing"),
        ("no description", m_no_description, "no description"),
        ("no pool variable", m_no_pool_var, 'no template variable "pool"'),
        ("unknown label", m_bad_label, 'has no label "user"'),
    ]
    per_file = {
        "mysql-connection-saturation.json": [
            ("connection threshold off", m_conn_threshold, "connection saturation thresholds"),
            ("idle-in-transaction bucket off", m_idle_bucket, "idle_in_transaction age must be cut"),
            ("ALERTS without ALERTS refId", m_alerts_refid, "ALERTS may be empty"),
            ("threads running threshold off", m_threads_threshold, "threads running thresholds"),
        ],
        "mysql-application-pool.json": [
            ("idle-in-transaction bucket off", m_idle_bucket, "idle_in_transaction age must be cut"),
        ],
    }
    if promtool:
        mutations.append(("PromQL syntax error", m_bad_promql, "does not parse"))
    with tempfile.TemporaryDirectory() as tmp:
        for path in real:
            base = os.path.basename(path)
            with open(path, encoding="utf-8") as f:
                original = json.load(f)
            for name, mutate, expected in mutations + per_file.get(base, []):
                d = copy.deepcopy(original)
                try:
                    mutate(d)
                except StopIteration:
                    results.append(("%s: %s" % (base, name), False, "mutation found no panel to change"))
                    continue
                out = os.path.join(tmp, base)
                with open(out, "w", encoding="utf-8") as f:
                    json.dump(d, f)
                expect_fail("%s: %s" % (base, name), [out], expected)
        # Two files with one uid.
        if real:
            dup = os.path.join(tmp, "copy-of-" + os.path.basename(real[0]))
            shutil.copy(real[0], dup)
            expect_fail("duplicate uid across files", [real[0], dup], "is also used by")

    passed = sum(1 for _, ok, _ in results if ok)
    for name, ok, detail in results:
        print("%s %s: %s" % ("ok  " if ok else "FAIL", name, detail))
    if not promtool:
        print("note: promtool not found, PromQL syntax checks skipped")
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="dashboard JSON files (default: dashboards/*.json)")
    ap.add_argument("--metrics", default=os.path.join(ROOT, "docs", "metrics.md"),
                    help="the metric contract (default: docs/metrics.md)")
    ap.add_argument("--promtool", help="promtool binary for PromQL syntax checks (default: from PATH)")
    ap.add_argument("--no-promtool", action="store_true", help="skip the PromQL syntax check")
    ap.add_argument("--self-test", action="store_true",
                    help="check that the linter passes the real dashboards and rejects every bad one")
    args = ap.parse_args()
    if args.self_test:
        return self_test(args)
    files = args.files or sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    if not files:
        print("no dashboards to check (dashboards/*.json is empty)")
        print("0 passed, 1 failed")
        return 1
    promtool = find_promtool(args)
    linter, failed = run_lint(files, args.metrics, promtool)
    for f in files:
        if f not in failed:
            print("ok %s" % os.path.relpath(f, ROOT) if os.path.isabs(f) else "ok %s" % f)
    if not promtool:
        print("note: promtool not found, PromQL syntax not checked")
    print("%d passed, %d failed" % (len(files) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
