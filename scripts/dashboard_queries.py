#!/usr/bin/env python3
"""Print every panel query of the bundled Grafana dashboards, ready to run against Prometheus.

Usage:
    scripts/dashboard_queries.py [--var NAME=VALUE ...] [--rate-interval 1m] [--interval 15s]
                                 [--range 1h] [--run PROMETHEUS_URL] [FILE ...]

Without FILE arguments every dashboards/*.json of the repository is read.  One JSON object per
line per query target:

    {"dashboard": UID, "file": PATH, "panel_id": N, "title": PANEL TITLE, "ref_id": "A",
     "instant": BOOL, "format": "time_series"|"table"|"heatmap", "may_be_empty": BOOL, "expr": PROMQL}

Template variables are substituted as Grafana's Prometheus data source does:
  * `--var job=mysql --var instance=127.0.0.1:9207 --var pool=kefu-flask`; give a name twice for
    several values (they become `(a|b)`);
  * values of multi-value or include-All variables are regex-escaped (`127\\\\.0\\\\.0\\\\.1:9207`
    in the PromQL text, which matches exactly `127.0.0.1:9207`);
  * a variable that is not given becomes its All value (`allValue`, `.*` when unset) if it
    includes All, else its saved current value; anything else is an error;
  * `$__rate_interval` -> 1m, `$__interval` -> 15s, `$__range` -> 1h (options change them);
  * `$datasource` is left untouched.

`may_be_empty` is true for targets whose refId starts with ALERTS (the firing-alerts tables,
empty when nothing fires) or OPTIONAL (series that need an optional server feature, such as
performance_schema for mysql_pool_process_sessions_max).  Every other query returns data
whenever the exporter runs with a pool configured, the app's-view panels (mysql_pool:app_*)
once the application exports its pool's OpenTelemetry metrics, as the demo app does.

With `--run URL` every query is sent to that Prometheus (/api/v1/query, at the current time)
instead of printed; each line is `ok`, `FAIL` or `empty` (allowed empty) with the query, and the
last line is `N passed, M failed`.  A query fails on an HTTP or PromQL error, or when it returns
no series and may_be_empty is false.  Exit status 1 when any query failed.

With `--run`, the labels are checked too, as a user comparing servers needs them: every series
of a query that filters by `$instance` must carry a non-empty `instance` label, and of one that
also filters by `$pool` a `pool` label (heatmaps, which are per instance, and the ALERTS tables
excepted).  `--min-distinct instance=2 --min-distinct pool=2` further requires, of every such
query that must return data, series of at least that many instances (pools): with two servers
and two pools scraped, a query that returns one has aggregated the other away.

`--panel REGEX` keeps the panels whose title matches.  Template variables that no kept query
uses (the status-page `exporter`) need no value.
"""

import argparse
import glob
import json
import os
import re
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAY_BE_EMPTY_PREFIXES = ("ALERTS", "OPTIONAL")
UNTOUCHED = {"datasource"}
VAR_RE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")
REGEX_SPECIAL = re.compile(r"[$^*+?.()|{}\[\]]")


class QueryError(Exception):
    pass


def regex_escape(value):
    """Grafana's prometheusSpecialRegexEscape: backslash-escape regex characters, doubled for PromQL."""
    value = value.replace("\\", "\\\\\\\\")
    return REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


def regular_escape(value):
    """Grafana's prometheusRegularEscape, for variables that are neither multi nor include-All."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def walk_panels(panels):
    for p in panels or []:
        yield p
        if p.get("type") == "row":
            yield from walk_panels(p.get("panels"))


def variable_values(dash, given, builtins):
    """Return {name: substituted text} for every template variable of the dashboard."""
    out = dict(builtins)
    for v in (dash.get("templating") or {}).get("list") or []:
        name = v.get("name")
        if not name or name in UNTOUCHED:
            continue
        multi_like = bool(v.get("multi") or v.get("includeAll"))
        if name in given:
            values = given[name]
            if multi_like:
                esc = [regex_escape(x) for x in values]
                out[name] = esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
            else:
                if len(values) > 1:
                    raise QueryError('variable "%s" takes one value, got %d' % (name, len(values)))
                out[name] = regular_escape(values[0])
        elif v.get("includeAll"):
            out[name] = v.get("allValue") or ".*"
        else:
            cur = (v.get("current") or {}).get("value")
            if isinstance(cur, list):
                cur = cur[0] if len(cur) == 1 else None
            if not cur or cur == "$__all":
                # An error only if a query uses it (substitute() raises it then).
                out[name] = QueryError('variable "%s" has no All option and no current value: pass --var %s=VALUE'
                                       % (name, name))
                continue
            out[name] = regular_escape(cur) if not multi_like else regex_escape(cur)
    return out


def substitute(expr, values):
    missing = []

    def repl(m):
        name = m.group(1) or m.group(3) or m.group(5)
        if name in UNTOUCHED:
            return m.group(0)
        if name in values:
            if isinstance(values[name], QueryError):
                raise values[name]
            return values[name]
        missing.append(name)
        return m.group(0)

    out = VAR_RE.sub(repl, expr)
    if missing:
        raise QueryError("unknown template variable(s): %s" % ", ".join("$" + x for x in sorted(set(missing))))
    return out


def dashboard_queries(dash, fname, given, rate_interval="1m", interval="15s", range_="1h", panel_re=None):
    builtins = {"__rate_interval": rate_interval, "__interval": interval, "__range": range_,
                "__range_s": str(_millis(range_) // 1000), "__range_ms": str(_millis(range_)),
                "__interval_ms": str(_millis(interval))}
    values = variable_values(dash, given, builtins)
    out = []
    for p in walk_panels(dash.get("panels")):
        if p.get("type") == "row":
            continue
        if panel_re and not re.search(panel_re, str(p.get("title"))):
            continue
        for t in p.get("targets") or []:
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip() or t.get("hide"):
                continue
            ref = str(t.get("refId", ""))
            try:
                text = substitute(expr, values)
            except QueryError as e:
                raise QueryError('%s panel %s "%s" target %s: %s' % (fname, p.get("id"), p.get("title"), ref, e))
            out.append({
                "dashboard": dash.get("uid"),
                "file": fname,
                "panel_id": p.get("id"),
                "title": p.get("title"),
                "ref_id": ref,
                "instant": bool(t.get("instant")) and not t.get("range", False),
                "format": t.get("format", "time_series"),
                "may_be_empty": ref.upper().startswith(MAY_BE_EMPTY_PREFIXES),
                # Which series labels the query must keep (see the module doc string).
                "per_instance": "$instance" in expr and not ref.upper().startswith("ALERTS")
                                and t.get("format") != "heatmap",
                "per_pool": "$pool" in expr and "$instance" in expr and not ref.upper().startswith("ALERTS")
                            and t.get("format") != "heatmap",
                "expr": text,
            })
    return out


def _millis(d):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", d)
    if not m:
        raise QueryError("bad duration %r (want e.g. 15s, 1m, 1h)" % d)
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}[m.group(2)]


def label_problems(q, result, min_distinct):
    """What is wrong with the labels of a query's result (module doc string), as text."""
    out = []
    metrics = [r.get("metric") or {} for r in result if isinstance(r, dict)]
    for label, wanted in (("instance", q.get("per_instance")), ("pool", q.get("per_pool"))):
        if not wanted:
            continue
        lacking = [m for m in metrics if not m.get(label)]
        if lacking:
            out.append("%d of %d series without a %s label (aggregated away?): %s"
                       % (len(lacking), len(metrics), label, lacking[0]))
            continue
        distinct = sorted({m[label] for m in metrics})
        need = min_distinct.get(label, 0)
        if not q["may_be_empty"] and len(distinct) < need:
            out.append("%d %s value(s) %s, expected at least %d" % (len(distinct), label, distinct, need))
    return out


def run_queries(queries, url, timeout, min_distinct=None):
    failed = 0
    min_distinct = min_distinct or {}
    for q in queries:
        api = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": q["expr"]})
        label = '%s panel %s "%s" %s' % (q["dashboard"], q["panel_id"], q["title"], q["ref_id"])
        try:
            with urllib.request.urlopen(api, timeout=timeout) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            try:
                body = json.load(e)
            except ValueError:
                body = {"status": "error", "error": "HTTP %s" % e.code}
        except (urllib.error.URLError, OSError, ValueError) as e:
            body = {"status": "error", "error": str(e)}
        if body.get("status") != "success":
            failed += 1
            print("FAIL %s: %s: %s" % (label, body.get("error", "no status"), q["expr"]))
            continue
        result = (body.get("data") or {}).get("result") or []
        if not result:
            if q["may_be_empty"]:
                print("empty %s (allowed): %s" % (label, q["expr"]))
            else:
                failed += 1
                print("FAIL %s: no series: %s" % (label, q["expr"]))
            continue
        problems = label_problems(q, result, min_distinct) if isinstance(result, list) else []
        if problems:
            failed += 1
            print("FAIL %s: %s: %s" % (label, "; ".join(problems), q["expr"]))
            continue
        print("ok %s: %d series" % (label, len(result) if isinstance(result, list) else 1))
    print("%d passed, %d failed" % (len(queries) - failed, failed))
    return 1 if failed else 0


def main():
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends quietly
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="dashboard JSON files (default: dashboards/*.json)")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="template variable value; repeat a name for several values")
    ap.add_argument("--rate-interval", default="1m", help="value of $__rate_interval (default 1m)")
    ap.add_argument("--interval", default="15s", help="value of $__interval (default 15s)")
    ap.add_argument("--range", default="1h", help="value of $__range (default 1h)")
    ap.add_argument("--run", metavar="PROMETHEUS_URL", help="run every query against this Prometheus")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per query with --run")
    ap.add_argument("--min-distinct", action="append", default=[], metavar="LABEL=N",
                    help="with --run: per-instance (per-pool) queries must return at least N instances (pools)")
    ap.add_argument("--panel", metavar="REGEX", help="only the panels whose title matches")
    args = ap.parse_args()
    min_distinct = {}
    for item in args.min_distinct:
        name, sep, n = item.partition("=")
        if not sep or name not in ("instance", "pool") or not n.isdigit():
            ap.error("--min-distinct wants instance=N or pool=N, got %r" % item)
        min_distinct[name] = int(n)

    given = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"\w+", name):
            ap.error("--var wants NAME=VALUE, got %r" % item)
        given.setdefault(name, []).append(value)

    files = args.files or sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    if not files:
        print("no dashboards found", file=sys.stderr)
        return 2
    queries = []
    try:
        for fname in files:
            with open(fname, encoding="utf-8") as f:
                dash = json.load(f)
            shown = os.path.relpath(fname, ROOT) if os.path.isabs(fname) else fname
            queries += dashboard_queries(dash, shown, given, args.rate_interval, args.interval, args.range, args.panel)
    except (OSError, ValueError, QueryError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    if args.run:
        return run_queries(queries, args.run, args.timeout, min_distinct)
    for q in queries:
        print(json.dumps(q, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
