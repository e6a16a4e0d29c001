#!/usr/bin/env python3
"""What no tool checks in the bundled Grafana dashboards. Per file: it is a dashboard (JSON, a
unique uid, a title, unique panel ids, a query in every panel), and every metric it queries is
one the exporter documents (docs/metrics.md) or the rules file records. Per panel, what an
on-call engineer reading it across several servers relies on:

  - every aggregation (sum/max/... by, topk by) and every join (on) keeps instance and target,
    so that two servers, or two targets of one /metrics, are never added up or mismatched;
  - legends name the instance (and target), and the pool when the query filters by pool,
    unless the panel is repeated per instance (per pool) and its title names it;
  - a stack or a heatmap only mixes one instance's series (one pool's, for per-pool queries):
    it sits in a row or panel repeated per instance (and per pool);
  - data links to the drill-down pass the clicked series' own instance and pool
    (${__field.labels...}), never the dashboard's selection;
  - heatmaps of session ages leave out the parked `idle` state;
  - the firing-alerts tables (ALERTS) show exactly the alerts of the rules file;
  - every panel has a noValue text (why it may be empty, how to fill it);
  - the job variable is not read from mysql_up (mysqld_exporter has it too).
Across the files: every metric of docs/metrics.md is on some panel, or listed in
docs/dashboards.md ("Not on a panel") with the reason; and nothing listed there is on a panel.
Whether each query parses and returns data is left to a real Prometheus:
scripts/test_live_stack.sh runs every panel's query (scripts/dashboard_queries.py --run).

    scripts/lint_dashboards.py [FILE ...]     default: dashboards/*.json (and the metric coverage)
    scripts/lint_dashboards.py --coverage     which panels show each documented metric
    scripts/lint_dashboards.py --self-test    the real dashboards pass; each of
                                              tests/fixtures/dashboards-bad/*.json fails with the
                                              message its `__lint_expect` key names; each rule
                                              above fails on a copy of the real dashboards
                                              broken for it

Prints one line per problem and `N passed, M failed` last; exit status 1 when anything failed.
"""

import copy
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from dashboard_queries import walk_panels  # noqa: E402

# Our metrics and recording rules all start so; anything else (up, ALERTS) is Prometheus'.
OURS = re.compile(r"\bmysql[a-z0-9_:]*")
# Label names are not metric names: drop what sits in strings, in {matchers} and in by/on
# (...) lists, and function names, before looking for names.
NOT_NAMES = [re.compile(p) for p in (
    r'"(?:[^"\\]|\\.)*"', r"\{[^}]*\}",
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\b\w+\s*\(")]
LABEL_VALUES_LABEL = re.compile(r",\s*\w+\s*\)\s*$")  # label_values(metric, LABEL)


def known_names():
    with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
        docs = f.read()
    names = set(re.findall(r"`(mysql_[a-z0-9_]+)[`{]", docs))
    for name in re.findall(r"^\|\s*`(mysql_[a-z0-9_]+)`\s*\|[^|]*histogram", docs, re.M):
        names.update(name + s for s in ("_bucket", "_count", "_sum"))
    with open(os.path.join(ROOT, "alerting-rules", "mysql_pool_exporter.rules.yml"), encoding="utf-8") as f:
        names.update(re.findall(r"\brecord:\s*\"?([a-zA-Z0-9_:]+)", f.read()))
    return names


def metrics_in(expr):
    for pattern in NOT_NAMES:
        expr = pattern.sub(" ", expr)
    return set(OURS.findall(expr))


# ------------------------------------------------------------------ the panel rules
# The label names of the default _config (the rendered dashboards are linted).
INSTANCE, TARGET, POOL = "instance", "target", "pool"
AGGREGATION = re.compile(
    r"\b(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)\s*"
    r"(?:(by|without)\s*\(([^)]*)\)\s*)?\(")
# `by (...)` written after the aggregation's argument: `sum(x) by (l)`.
TRAILING_BY = re.compile(r"\)\s*(by|without)\s*\(([^)]*)\)")
JOIN = re.compile(r"\b(on|ignoring)\s*\(([^)]*)\)")
DRILL_PARAM = re.compile(r"var-(instance|pool)=([^&]*)")


def labels_of(text):
    return {x.strip() for x in text.split(",") if x.strip()}


def expr_problems(expr, exempt_instance):
    """Aggregations and joins of one query that lose instance or target."""
    out = []
    for m in AGGREGATION.finditer(expr):
        kind, labels = m.group(2), labels_of(m.group(3) or "")
        if kind is None:
            # sum(x) by (...) is rare in our style; an aggregation without a grouping drops all.
            trailing = TRAILING_BY.search(expr, m.end())
            if trailing is None:
                out.append("%s(...) without `by` drops instance and target" % m.group(1))
            continue
        if kind == "without":
            lost = labels & {INSTANCE, TARGET}
            if lost:
                out.append("%s without (%s) drops %s" % (m.group(1), m.group(3), ", ".join(sorted(lost))))
            continue
        missing = {INSTANCE, TARGET} - labels
        if missing and not exempt_instance:
            out.append("%s by (%s) drops %s" % (m.group(1), m.group(3), " and ".join(sorted(missing))))
    for m in JOIN.finditer(expr):
        labels = labels_of(m.group(2))
        if m.group(1) == "on" and not {INSTANCE, TARGET} <= labels:
            out.append("on (%s) does not match on instance and target: many-to-many or mismatched servers"
                       % m.group(2))
        if m.group(1) == "ignoring" and labels & {INSTANCE, TARGET}:
            out.append("ignoring (%s) ignores the server" % m.group(2))
    return out


def with_context(panels):
    """(panel, the variables it is repeated by: its own repeat and its row's)."""
    row_repeat = None
    for p in panels or []:
        if p.get("type") == "row":
            row_repeat = p.get("repeat")
            for q in p.get("panels") or []:
                yield q, {x for x in (row_repeat, q.get("repeat")) if x}
            yield p, {x for x in (row_repeat,) if x}
            continue
        yield p, {x for x in (row_repeat, p.get("repeat")) if x}


def panel_problems(p, repeated, alert_names):
    """The rules of the module doc string, for one panel."""
    out = []
    ptype = p.get("type")
    defaults = (p.get("fieldConfig") or {}).get("defaults") or {}
    if not str(defaults.get("noValue") or "").strip():
        out.append("no noValue text: say why it may be empty and how to fill it")
    targets = [t for t in p.get("targets") or [] if (t.get("expr") or "").strip()]
    stacked = (((defaults.get("custom") or {}).get("stacking") or {}).get("mode") or "none") != "none"
    per_pool = any("$pool" in t["expr"] for t in targets)
    per_instance = any("$instance" in t["expr"] for t in targets)
    if (stacked or ptype == "heatmap") and per_instance and "instance" not in repeated:
        out.append("%s of several instances: repeat its row (or it) per instance"
                   % ("a heatmap" if ptype == "heatmap" else "stacks series"))
    if (stacked or ptype == "heatmap") and per_pool and "pool" not in repeated:
        out.append("%s of several pools: repeat it per pool" % ("a heatmap" if ptype == "heatmap" else "stacks series"))
    for t in targets:
        expr, legend = t["expr"], t.get("legendFormat") or ""
        ref = t.get("refId")
        if expr.lstrip().startswith("ALERTS"):
            m = re.search(r'alertname=~"([^"]*)"', expr)
            names = set(m.group(1).split("|")) if m else set()
            if names != alert_names:
                out.append("target %s: ALERTS must be filtered to the rules file's alerts (alertname=~\"%s\"), got %s"
                           % (ref, "|".join(sorted(alert_names)), sorted(names) or "no alertname filter"))
            continue
        if "$instance" not in expr:
            continue  # the app's own metrics: per pool name, no server
        heatmap_in_repeat = ptype == "heatmap" and "instance" in repeated
        out += ["target %s: %s" % (ref, x) for x in expr_problems(expr, heatmap_in_repeat)]
        if "session_age_seconds_bucket" in expr and ptype == "heatmap" and 'state!="idle"' not in expr:
            out.append("target %s: a session-age heatmap must leave out the parked idle sessions (state!=\"idle\")" % ref)
        if t.get("format") in ("heatmap", "table"):
            continue
        if "instance" not in repeated and "{{%s}}" % INSTANCE not in legend:
            out.append("target %s: the legend %r does not name the instance" % (ref, legend))
        if "{{%s}}" % TARGET not in legend:
            out.append("target %s: the legend %r does not name the target" % (ref, legend))
        if "$pool" in expr and "pool" not in repeated and "{{%s}}" % POOL not in legend:
            out.append("target %s: the legend %r does not name the pool" % (ref, legend))
    links = list(defaults.get("links") or [])
    for o in (p.get("fieldConfig") or {}).get("overrides") or []:
        for prop in o.get("properties") or []:
            if prop.get("id") == "links":
                links += prop.get("value") or []
    for link in links:
        url = link.get("url") or ""
        for var, value in DRILL_PARAM.findall(url):
            if not value.startswith("${__field.labels."):
                out.append("data link %r passes %s=%s, not the clicked series' own ${__field.labels.%s}"
                           % (link.get("title"), var, value, var))
        if re.search(r"\$\{(instance|pool):queryparam\}", url):
            out.append("data link %r passes the dashboard's selection (${...:queryparam}), not the clicked series'"
                       % link.get("title"))
    return out


def alert_names():
    with open(os.path.join(ROOT, "alerting-rules", "mysql_pool_exporter.rules.yml"), encoding="utf-8") as f:
        return set(re.findall(r'^\s*-?\s*alert:\s*"?([A-Za-z0-9_]+)', f.read(), re.M))


# ------------------------------------------------------------------ coverage of docs/metrics.md
NOT_SHOWN_HEADING = "### Not on a panel"


def documented_metrics():
    """Metric (and recording rule) names of docs/metrics.md; label names left out."""
    with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
        docs = f.read()
    names = set(re.findall(r"`(mysql[_:][a-z0-9_:]*[a-z0-9_])[`{]", docs))
    labels = set()
    for line in docs.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`mysql"):
            labels.update(re.findall(r"`([a-z_]+)`", cells[2]))
    return names - labels


def not_shown_list():
    """{metric: reason} from docs/dashboards.md's table under NOT_SHOWN_HEADING."""
    path = os.path.join(ROOT, "docs", "dashboards.md")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return {}
    if NOT_SHOWN_HEADING not in text:
        return {}
    section = text.split(NOT_SHOWN_HEADING, 1)[1].split("\n#", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            for name in re.findall(r"`([a-zA-Z0-9_:]+)`", cells[0]):
                out[name] = cells[1]
    return out


def shown_metrics(dashboards):
    """{metric: [where]} of every panel query of the dashboards (histogram series folded)."""
    out = {}
    for path, dash in dashboards:
        for p in walk_panels(dash.get("panels")):
            for t in p.get("targets") or []:
                for name in metrics_in(t.get("expr") or ""):
                    base = re.sub(r"_(bucket|count|sum)$", "", name)
                    for n in {name, base}:
                        out.setdefault(n, []).append('%s "%s"' % (dash.get("uid"), p.get("title")))
    return out


def coverage_problems(dashboards, documented=None, not_shown=None):
    documented = documented_metrics() if documented is None else documented
    not_shown = not_shown_list() if not_shown is None else not_shown
    shown = shown_metrics(dashboards)
    out = []
    for name in sorted(documented):
        if name not in shown and name not in not_shown:
            out.append("coverage: %s (docs/metrics.md) is on no panel and not in docs/dashboards.md's "
                       "'Not on a panel' list" % name)
    for name in sorted(not_shown):
        if name not in documented:
            out.append("coverage: docs/dashboards.md lists %s as not shown, but docs/metrics.md has no such metric" % name)
        elif name in shown:
            out.append("coverage: docs/dashboards.md lists %s as not shown, but %s shows it" % (name, shown[name][0]))
    return out


def lint(path, known, uids, alerts=None):
    """The problems of one dashboard file, as printable lines."""
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except ValueError as e:
        return [f"{path}: not valid JSON: {e}"]
    problems = []
    uid = dash.get("uid")
    if not uid or not dash.get("title"):
        problems.append(f"{path}: no uid or no title")
    elif uid in uids:
        problems.append(f"{path}: uid {uid!r} is also {uids[uid]}'s")
    uids.setdefault(uid, path)
    return problems + lint_dashboard(path, dash, known, alerts)


def lint_dashboard(path, dash, known, alerts=None):
    """The problems of one dashboard (parsed), as printable lines."""
    problems = []
    alerts = alert_names() if alerts is None else alerts
    variables = (dash.get("templating") or {}).get("list") or []
    queries = [("variable " + str(v.get("name")), v.get("query")) for v in variables if v.get("type") == "query"]
    for var in variables:
        if var.get("name") == "job" and "mysql_up" in str(var.get("query")):
            problems.append(f"{path}: variable job: mysql_up is mysqld_exporter's too: list the jobs by a "
                            "series only this exporter has")
    ids = set()
    for p, repeated in with_context(dash.get("panels")):
        if p.get("type") == "row":
            continue
        where = f'panel {p.get("id")} "{p.get("title")}"'
        if p.get("id") in ids:
            problems.append(f"{path}: {where}: its id is not unique")
        ids.add(p.get("id"))
        exprs = [t.get("expr") for t in p.get("targets") or [] if (t.get("expr") or "").strip()]
        if not exprs:
            problems.append(f"{path}: {where}: no query")
        queries += [(where, e) for e in exprs]
        problems += [f"{path}: {where}: {x}" for x in panel_problems(p, repeated, alerts)]
    for where, q in queries:
        text = q.get("query", "") if isinstance(q, dict) else str(q or "")
        if where.startswith("variable "):
            text = LABEL_VALUES_LABEL.sub(")", text)
        for name in sorted(metrics_in(text) - known):
            problems.append(f"{path}: {where}: {name} is not in docs/metrics.md nor recorded by the rules file")
    return problems


def load(files):
    out = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                out.append((path, json.load(f)))
        except ValueError:
            pass  # lint() reports it
    return out


def run(files, coverage):
    known, uids, alerts, failed = known_names(), {}, alert_names(), 0
    for path in files:
        problems = lint(path, known, uids, alerts)
        failed += bool(problems)
        print("\n".join(problems) if problems else f"ok {os.path.relpath(path, ROOT)}")
    checks = len(files)
    if coverage:
        problems = coverage_problems(load(files))
        failed += bool(problems)
        checks += 1
        print("\n".join(problems) if problems else
              "ok every metric of docs/metrics.md is on a panel or listed as not shown in docs/dashboards.md")
    print(f"{checks - failed} passed, {failed} failed")
    return 1 if failed else 0


def print_coverage():
    dashboards = load(sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json"))))
    shown, not_shown = shown_metrics(dashboards), not_shown_list()
    for name in sorted(documented_metrics()):
        where = sorted(set(shown.get(name, [])))
        print("%-70s %s" % (name, "; ".join(where) if where else "not shown: " + not_shown.get(name, "?")))
    problems = coverage_problems(dashboards)
    print("\n".join(problems))
    return 1 if problems else 0


# Each rule of the module doc string, broken on a copy of the real dashboards: the lint must
# say so. (file, what is broken, a function that breaks the parsed dashboard, expected text)
def _panel(dash, title):
    return next(p for p in walk_panels(dash["panels"]) if p.get("title") == title)


def _set_expr(title, old, new, ref=0):
    def f(dash):
        t = _panel(dash, title)["targets"][ref]
        assert old in t["expr"], (title, old, t["expr"])
        t["expr"] = t["expr"].replace(old, new)
    return f


def _unrepeat_row(title):
    def f(dash):
        _panel(dash, title).pop("repeat")
    return f


def _del_novalue(title):
    def f(dash):
        del _panel(dash, title)["fieldConfig"]["defaults"]["noValue"]
    return f


def _legend(title, legend):
    def f(dash):
        _panel(dash, title)["targets"][0]["legendFormat"] = legend
    return f


def _link(title, url):
    def f(dash):
        _panel(dash, title)["fieldConfig"]["defaults"]["links"][0]["url"] = url
    return f


def _job_from_mysql_up(dash):
    next(v for v in dash["templating"]["list"] if v["name"] == "job")["query"] = "label_values(mysql_up, job)"


OVERVIEW, DRILL = "mysql-connection-saturation.json", "mysql-application-pool.json"
MUTANTS = [
    (DRILL, "max by (pool) drops the instance", _set_expr("Pool utilisation", "max by (job, instance, target, pool)", "max by (pool)"),
     "drops instance and target"),
    (OVERVIEW, "an aggregation without by", _set_expr("Pool overcommit", "max by (job, instance, target)", "max"),
     "without `by`"),
    (OVERVIEW, "on (job, instance) in a join", _set_expr("Connection saturation", "on(job, instance, target)", "on(job, instance)"),
     "many-to-many"),
    (DRILL, "a legend without the instance", _legend("Oldest idle-in-transaction session", "{{pool}}"),
     "does not name the instance"),
    (OVERVIEW, "a stack of states over all instances", _unrepeat_row("Sessions on $instance"),
     "stacks series of several instances"),
    (OVERVIEW, "a heatmap over all instances", _unrepeat_row("Sessions on $instance"),
     "a heatmap of several instances"),
    (OVERVIEW, "a heatmap of ages with the parked idle sessions", _set_expr("Session ages on $instance (not idle)", ', state!="idle"', ""),
     "leave out the parked idle"),
    (OVERVIEW, "a drill-down link with the dashboard's instance selection",
     _link("Pools at a glance", "/d/x/y?var-pool=${__field.labels.pool}&${instance:queryparam}"),
     "passes the dashboard's selection"),
    (OVERVIEW, "a drill-down link with var-instance=$instance",
     _link("Pools at a glance", "/d/x/y?var-instance=$instance&var-pool=${__field.labels.pool}"),
     "not the clicked series' own"),
    (OVERVIEW, "ALERTS of every rule in Prometheus", _set_expr("Firing alerts", 'alertname=~"', 'alertname!~"x|'),
     "ALERTS must be filtered"),
    (OVERVIEW, "a panel without noValue", _del_novalue("MySQL reachable"), "no noValue text"),
    (OVERVIEW, "the job variable from mysql_up", _job_from_mysql_up, "variable job: mysql_up"),
]


def self_test():
    known, alerts, failed = known_names(), alert_names(), 0
    real = sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    cases = [("the real dashboards", real, None)]
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "dashboards-bad", "*.json"))):
        with open(path, encoding="utf-8") as f:
            expected = re.search(r'"__lint_expect":\s*"([^"]+)"', f.read())
        cases.append((os.path.relpath(path, ROOT), [path], expected and expected.group(1)))
    n = 0
    for name, files, expected in cases:
        uids = {}
        problems = [p for path in files for p in lint(path, known, uids, alerts)]
        if expected is None:
            problems += coverage_problems(load(files))
        ok = bool(files) and (not problems if expected is None else any(expected in p for p in problems))
        failed += not ok
        n += 1
        print(("ok - " if ok else "not ok - ") + name + ("" if ok else f": expected {expected!r}, got {problems}"))
    real_dash = dict((os.path.basename(p), d) for p, d in load(real))
    for fname, what, breaks, expected in MUTANTS:
        dash = copy.deepcopy(real_dash[fname])
        breaks(dash)
        problems = lint_dashboard(fname, dash, known, alerts)
        ok = any(expected in p for p in problems)
        failed += not ok
        n += 1
        print(("ok - " if ok else "not ok - ") + f"{fname} with {what} fails"
              + ("" if ok else f": expected {expected!r}, got {problems}"))
    # coverage: a documented metric that is on no panel and not listed; a listed one that is shown
    shown = shown_metrics(load(real))
    not_shown = not_shown_list()
    some_listed = sorted(not_shown)[:1]
    some_shown = sorted(shown)[:1]
    for what, documented, listed, expected in (
            ("a documented metric on no panel and not listed", documented_metrics() | {"mysql_pool_made_up"},
             not_shown, "mysql_pool_made_up (docs/metrics.md) is on no panel"),
            ("a listed metric dropped from the list", documented_metrics(),
             {k: v for k, v in not_shown.items() if k not in some_listed},
             "%s (docs/metrics.md) is on no panel" % (some_listed or ["?"])[0]),
            ("a shown metric listed as not shown", documented_metrics(),
             dict(not_shown, **{m: "x" for m in some_shown}), "lists %s as not shown, but" % (some_shown or ["?"])[0])):
        problems = coverage_problems(load(real), documented, listed)
        ok = any(expected in p for p in problems)
        failed += not ok
        n += 1
        print(("ok - " if ok else "not ok - ") + f"coverage: {what} fails"
              + ("" if ok else f": expected {expected!r}, got {problems}"))
    print(f"{n - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--self-test"]:
        sys.exit(self_test())
    if args == ["--coverage"]:
        sys.exit(print_coverage())
    sys.exit(run(args or sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json"))), coverage=not args))
