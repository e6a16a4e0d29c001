#!/usr/bin/env python3
"""What no tool checks in the bundled Grafana dashboards: every metric they query is one the
exporter documents (docs/metrics.md) or the rules file records, and each file is a dashboard
(JSON, a unique uid, a title, unique panel ids, a query in every panel). Whether each query
parses and returns data is left to a real Prometheus: scripts/test_live_stack.sh runs every
panel's query (scripts/dashboard_queries.py --run).

    scripts/lint_dashboards.py [FILE ...]     default: dashboards/*.json
    scripts/lint_dashboards.py --self-test    the real dashboards pass, each of
                                              tests/fixtures/dashboards-bad/*.json fails with the
                                              message its `__lint_expect` key names

Prints one line per problem and `N passed, M failed` last; exit status 1 when anything failed.
"""

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


def lint(path, known, uids):
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
    queries = [("variable " + str(v.get("name")), v.get("query"))
               for v in (dash.get("templating") or {}).get("list") or [] if v.get("type") == "query"]
    ids = set()
    for p in walk_panels(dash.get("panels")):
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
    for where, q in queries:
        text = q.get("query", "") if isinstance(q, dict) else str(q or "")
        if where.startswith("variable "):
            text = LABEL_VALUES_LABEL.sub(")", text)
        for name in sorted(metrics_in(text) - known):
            problems.append(f"{path}: {where}: {name} is not in docs/metrics.md nor recorded by the rules file")
    return problems


def run(files):
    known, uids, failed = known_names(), {}, 0
    for path in files:
        problems = lint(path, known, uids)
        failed += bool(problems)
        print("\n".join(problems) if problems else f"ok {os.path.relpath(path, ROOT)}")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


def self_test():
    known, failed = known_names(), 0
    real = sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    cases = [("the real dashboards", real, None)]
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "dashboards-bad", "*.json"))):
        with open(path, encoding="utf-8") as f:
            expected = re.search(r'"__lint_expect":\s*"([^"]+)"', f.read())
        cases.append((os.path.relpath(path, ROOT), [path], expected and expected.group(1)))
    for name, files, expected in cases:
        uids = {}
        problems = [p for path in files for p in lint(path, known, uids)]
        ok = bool(files) and (not problems if expected is None else any(expected in p for p in problems))
        failed += not ok
        print(("ok - " if ok else "not ok - ") + name + ("" if ok else f": expected {expected!r}, got {problems}"))
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(run(args or sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))))
