#!/usr/bin/env python3
"""HTTP/JSON helper of scripts/lib/stack.sh (the demo and the live-stack test): read the
exporter's /metrics, Prometheus' and Alertmanager's APIs, and receive Alertmanager's webhooks.
Needs prometheus_client (Debian's python3-prometheus-client) for reading /metrics. Every subcommand prints plain lines for the shell; exit 0 when it found
what was asked, 1 when not (absent series, alert not in that state), 2 on an HTTP/API error.

    stack.py metric EXPORTER_URL NAME [LABEL=VALUE ...]      value of one sample of /metrics
    stack.py query PROM_URL EXPR                             "{labels} value" per series
    stack.py value PROM_URL EXPR                             the value of the only series
    stack.py target-health PROM_URL JOB                      "health<TAB>lastError" per target
    stack.py prom-alert PROM_URL ALERTNAME [LABEL=VALUE ...] its state: pending|firing (absent: exit 1)
    stack.py am-alert AM_URL ALERTNAME [LABEL=VALUE ...]     "STATE receivers=R[,R] [inhibited_by=NAME[,NAME]]",
                                                             STATE active|suppressed|unprocessed (absent: exit 1)
    stack.py am-alerts AM_URL                                one line per alert (name, state, receivers, summary)
    stack.py progress --exporter U --prom U --am U --pool P [--since EPOCH] ALERTNAME ...
                                                             one status line
    stack.py notifications FILE                              what the webhook sink received
    stack.py webhook-sink --port N --out FILE                receive Alertmanager webhooks (runs until killed)
    stack.py first-row PROM_URL DASHBOARD --job J --pool P --instance I [--instance I ...]
                                                             the overview's first pool graph, per instance,
                                                             as its queries return it now: one line each;
                                                             exit 0 when each shows the pool exhausted by
                                                             a leak (held = capacity, idle_in_transaction > 0)
    stack.py screenshots PROM_URL DASHBOARD OUTDIR --job J --pool P --instance I [--instance I ...]
                                                             draw the overview's first row with Prometheus'
                                                             graph page in headless Chromium: per instance
                                                             the states stacked and the capacity lines; the
                                                             glance and the alerts as tables
"""

import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 5.0


class ApiError(Exception):
    pass


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            return r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace")
        raise ApiError("%s: HTTP %s: %s" % (url, e.code, body.strip()[:300])) from None
    except (urllib.error.URLError, OSError) as e:
        raise ApiError("%s: %s" % (url, e)) from None


def get_json(url):
    text = get(url)
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError("%s: not JSON: %s" % (url, text[:200])) from None


def matchers(items):
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            raise SystemExit("expected LABEL=VALUE, got %r" % it)
        out[k] = v
    return out


def matches(labels, want):
    return all(labels.get(k) == v for k, v in want.items())


# ------------------------------------------------------------------ exporter /metrics
def exporter_samples(url):
    """[(sample name, {labels}, value)] of the exporter's /metrics."""
    from prometheus_client import parser
    from prometheus_client.openmetrics import parser as om_parser

    text = get(url.rstrip("/") + "/metrics")
    # The exporter speaks OpenMetrics, which ends in `# EOF`; anything else is the older text format.
    parse = om_parser if text.rstrip().endswith("# EOF") else parser
    return [(s.name, s.labels, s.value) for f in parse.text_string_to_metric_families(text) for s in f.samples]


def fmt(v):
    return ("%d" % v) if v == int(v) else ("%g" % v)


# ------------------------------------------------------------------ Prometheus
def prom_query(url, expr):
    body = get_json(url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if body.get("status") != "success":
        raise ApiError("query %s: %s" % (expr, body.get("error")))
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return [({}, float(data["result"][1]))]
    return [(s["metric"], float(s["value"][1])) for s in data["result"]]


def prom_alerts(url):
    body = get_json(url.rstrip("/") + "/api/v1/alerts")
    if body.get("status") != "success":
        raise ApiError("alerts: %s" % body.get("error"))
    return body["data"]["alerts"]


def am_alerts(url):
    return get_json(url.rstrip("/") + "/api/v2/alerts")


def labels_text(labels):
    return "{" + ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels)) + "}"


# ------------------------------------------------------------------ subcommands
def cmd_metric(a):
    want = matchers(a.labels)
    for name, labels, value in exporter_samples(a.url):
        if name == a.name and matches(labels, want):
            print(fmt(value))
            return 0
    return 1


def cmd_query(a):
    res = prom_query(a.url, a.expr)
    for labels, value in res:
        print("%s %s" % (labels_text(labels), fmt(value)))
    return 0 if res else 1


def cmd_value(a):
    res = prom_query(a.url, a.expr)
    if len(res) != 1:
        print("%d series" % len(res), file=sys.stderr)
        return 1
    print(fmt(res[0][1]))
    return 0


def cmd_target_health(a):
    body = get_json(a.url.rstrip("/") + "/api/v1/targets?state=active")
    found = 0
    for t in body["data"]["activeTargets"]:
        if t["labels"].get("job") == a.job:
            found += 1
            print("%s\t%s\t%s" % (t["health"], t.get("lastError", ""), t.get("scrapeUrl", "")))
    return 0 if found else 1


def cmd_prom_alert(a):
    want = matchers(a.labels)
    states = [al["state"] for al in prom_alerts(a.url)
              if al["labels"].get("alertname") == a.alertname and matches(al["labels"], want)]
    if not states:
        return 1
    print("firing" if "firing" in states else states[0])
    return 0


def am_inhibitors(alerts, alert):
    """alertnames of the alerts (by fingerprint) that inhibit this one."""
    by_fp = {x["fingerprint"]: x["labels"].get("alertname", "?") for x in alerts}
    return sorted({by_fp.get(fp, fp) for fp in alert["status"].get("inhibitedBy") or []})


def cmd_am_alert(a):
    want = matchers(a.labels)
    alerts = am_alerts(a.url)
    for al in alerts:
        if al["labels"].get("alertname") == a.alertname and matches(al["labels"], want):
            state = al["status"]["state"]
            inh = am_inhibitors(alerts, al)
            print("%s receivers=%s%s" % (state, ",".join(r["name"] for r in al.get("receivers") or []),
                                         " inhibited_by=" + ",".join(inh) if inh else ""))
            return 0
    return 1


def cmd_am_alerts(a):
    alerts = am_alerts(a.url)
    for al in sorted(alerts, key=lambda x: x["labels"].get("alertname", "")):
        inh = am_inhibitors(alerts, al)
        print("%-26s %-10s %-9s -> %s%s\n    %s" % (
            al["labels"].get("alertname"), al["status"]["state"],
            al["labels"].get("severity", "-"),
            ",".join(r["name"] for r in al.get("receivers") or []) or "-",
            ("  (inhibited by " + ",".join(inh) + ")") if inh else "",
            al["annotations"].get("summary", "").strip()))
    return 0 if alerts else 1


def cmd_progress(a):
    parts = []
    if a.since:
        s = int(time.time() - a.since)
        parts.append("%d:%02d" % (s // 60, s % 60))
    try:
        pool = {}
        for name, labels, value in exporter_samples(a.exporter):
            if labels.get("pool") == a.pool:
                if name == "mysql_pool_sessions":
                    pool.setdefault("sessions", {})[labels.get("state")] = value
                else:
                    pool[name] = value
        if "mysql_pool_utilization_ratio" in pool:
            sess = pool.get("sessions", {})
            parts.append("%s %s/%s (%d%%), %s idle in trx, oldest %ss" % (
                a.pool, fmt(sum(sess.values())), fmt(pool.get("mysql_pool_capacity", 0)),
                round(100 * pool["mysql_pool_utilization_ratio"]), fmt(sess.get("idle_in_transaction", 0)),
                fmt(pool.get("mysql_pool_oldest_idle_transaction_seconds", 0))))
        else:
            parts.append("exporter: no series for pool %s yet" % a.pool)
    except ApiError as e:
        parts.append("exporter: %s" % e)

    def states(alerts, key):
        # "PoolExhausted firing, IdleInTransaction pending" (MySQL prefix dropped), "-" for none
        out = []
        for n in a.alertnames:
            st = sorted({key(x) for x in alerts if x["labels"].get("alertname") == n})
            if st:
                out.append("%s %s" % (n[5:] if n.startswith("MySQL") else n, "/".join(st)))
        return ", ".join(out) or "-"

    try:
        parts.append("Prometheus: " + states(prom_alerts(a.prom), lambda x: x["state"]))
    except ApiError as e:
        parts.append("Prometheus: %s" % e)
    try:
        parts.append("Alertmanager: " + states(am_alerts(a.am), lambda x: x["status"]["state"]))
    except ApiError as e:
        parts.append("Alertmanager: %s" % e)
    print(" | ".join(parts))
    return 0


def cmd_notifications(a):
    n = 0
    try:
        f = open(a.file, encoding="utf-8")
    except OSError:
        return 1
    with f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            body = rec.get("body") or {}
            for al in body.get("alerts") or []:
                n += 1
                print("%s %s -> receiver %s (%s): %s" % (
                    rec.get("time", "?"), al.get("labels", {}).get("alertname"),
                    body.get("receiver"), al.get("status"),
                    (al.get("annotations") or {}).get("summary", "").strip()))
    return 0 if n else 1


def cmd_webhook_sink(a):
    out = open(a.out, "a", encoding="utf-8", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"raw": raw.decode("utf-8", "replace")}
            out.write(json.dumps({"time": time.strftime("%H:%M:%S"), "path": self.path, "body": body}) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # quiet: the records are in --out
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.serve_forever()


# ------------------------------------------------------------------ the dashboards' first row
FIRST_ROW_PANEL = r"held sessions by state$"   # the overview's repeated per-pool graph


def panel_queries(dashboard, job, instance, pool, panel_re):
    """{refId: PromQL} of the dashboard's panel(s) matching panel_re, the variables set to one
    instance and one pool, as Grafana runs them inside the repeats."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from dashboard_queries import dashboard_queries  # noqa: E402 (scripts/dashboard_queries.py)

    with open(dashboard, encoding="utf-8") as f:
        dash = json.load(f)
    given = {"job": [job]}
    given.update({k: [x] for k, x in (("instance", instance), ("pool", pool)) if x is not None})
    return {q["ref_id"]: q for q in dashboard_queries(dash, dashboard, given, panel_re=panel_re)}


def cmd_first_row(a):
    ok = True
    for inst in a.instance:
        qs = panel_queries(a.dashboard, a.job, inst, a.pool, FIRST_ROW_PANEL)
        states, held_idle = {}, 0.0
        series = []
        for labels, value in prom_query(a.url, qs["A"]["expr"]):
            states[labels.get("state")] = value
            series.append(labels)
        for labels, value in prom_query(a.url, qs["OPTIONAL_HELD_IDLE"]["expr"]):
            held_idle += value
            series.append(labels)
        cap = [v for _, v in prom_query(a.url, qs["C"]["expr"])]
        peak = [v for _, v in prom_query(a.url, qs["D"]["expr"])]
        held = sum(states.values()) + held_idle
        iit = states.get("idle_in_transaction", 0)
        # Each series of the graph is this instance's and this pool's, and only one of each
        # (one target per instance here).
        own = all(x.get("instance") == inst and x.get("pool") == a.pool for x in series)
        good = (own and len(cap) == 1 and len(peak) == 1 and held == cap[0] and iit > 0
                and peak[0] >= held)
        ok &= good
        print("%s %s on %s: held %s of capacity %s (%s), most held at once %s%s" % (
            "ok" if good else "BAD", a.pool, inst, fmt(held), "/".join(fmt(c) for c in cap) or "-",
            ", ".join("%s %s" % (k, fmt(v)) for k, v in sorted(states.items())) or "no states",
            "/".join(fmt(p) for p in peak) or "-", "" if own else "; series of another instance or pool"))
    return 0 if ok else 1


def chromium(args, timeout=90):
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1280,900", "--virtual-time-budget=15000"] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout, check=False)


def graph_url(prom, panels):
    """Prometheus' graph page with one panel per (expr, tab, stacked), over the last 3 minutes."""
    params = {}
    for i, (expr, tab, stacked) in enumerate(panels):
        params.update({"g%d.expr" % i: expr, "g%d.tab" % i: str(tab), "g%d.stacked" % i: "1" if stacked else "0",
                       "g%d.range_input" % i: "3m", "g%d.show_exemplars" % i: "0"})
    return prom.rstrip("/") + "/graph?" + urllib.parse.urlencode(params)


def cmd_screenshots(a):
    os.makedirs(a.outdir, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="stack-chromium.")
    shots = []
    for inst in a.instance:
        qs = panel_queries(a.dashboard, a.job, inst, a.pool, FIRST_ROW_PANEL)
        # Prometheus stacks all or nothing of a graph: the states stacked on one page, and the
        # capacity, the peak and their sum (held) as lines on another (told apart by a label,
        # as `or` keeps only one of equal label sets). One graph per page: with two, the page
        # scrolls to the second one's input field.
        lines = ('label_replace(%s, "line", "capacity", "", "")'
                 ' or label_replace(%s, "line", "most held at once", "", "")'
                 ' or label_replace(sum without (state) (%s), "line", "held (the stack)", "", "")'
                 % (qs["C"]["expr"], qs["D"]["expr"], qs["A"]["expr"]))
        shots.append(("first-row-%s-%s-states" % (inst, a.pool), graph_url(a.url, [(qs["A"]["expr"], 0, True)]),
                      "idle_in_transaction"))
        shots.append(("first-row-%s-%s-capacity" % (inst, a.pool), graph_url(a.url, [(lines, 0, False)]),
                      "most held at once"))
    # Every instance and pool ("All").
    glance = panel_queries(a.dashboard, a.job, None, None, r"^Pools at a glance$")["A"]["expr"]
    alerts = panel_queries(a.dashboard, a.job, None, None, r"^Firing alerts$")["ALERTS"]["expr"]
    shots.append(("first-row-glance-and-alerts", graph_url(a.url, [(glance, 1, False), (alerts, 1, False)]), a.pool))
    failed = 0
    for name, url, expect in shots:
        png = os.path.join(a.outdir, name + ".png")
        with open(os.path.join(a.outdir, name + ".url"), "w", encoding="utf-8") as f:
            f.write(url + "\n")
        chromium(["--user-data-dir=" + profile, "--screenshot=" + png, url])
        # The page draws with JavaScript after fetching the data: its DOM says whether the
        # series arrived (the legend or table names them) or an error was shown.
        dom = chromium(["--user-data-dir=" + profile, "--dump-dom", url]).stdout.decode("utf-8", "replace")
        size = os.path.getsize(png) if os.path.exists(png) else 0
        good = size > 10000 and expect in dom and "Error executing query" not in dom
        failed += not good
        print("%s %s (%d bytes; the page %s %r)" % ("ok" if good else "BAD", png, size,
                                                  "shows" if expect in dom else "does not show", expect))
    shutil.rmtree(profile, ignore_errors=True)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("metric"); p.add_argument("url"); p.add_argument("name"); p.add_argument("labels", nargs="*")
    p.set_defaults(fn=cmd_metric)
    p = sub.add_parser("query"); p.add_argument("url"); p.add_argument("expr"); p.set_defaults(fn=cmd_query)
    p = sub.add_parser("value"); p.add_argument("url"); p.add_argument("expr"); p.set_defaults(fn=cmd_value)
    p = sub.add_parser("target-health"); p.add_argument("url"); p.add_argument("job")
    p.set_defaults(fn=cmd_target_health)
    for name, fn in (("prom-alert", cmd_prom_alert), ("am-alert", cmd_am_alert)):
        p = sub.add_parser(name); p.add_argument("url"); p.add_argument("alertname"); p.add_argument("labels", nargs="*")
        p.set_defaults(fn=fn)
    p = sub.add_parser("am-alerts"); p.add_argument("url"); p.set_defaults(fn=cmd_am_alerts)
    p = sub.add_parser("progress")
    for o in ("--exporter", "--prom", "--am", "--pool"):
        p.add_argument(o, required=True)
    p.add_argument("--since", type=float)
    p.add_argument("alertnames", nargs="+")
    p.set_defaults(fn=cmd_progress)
    p = sub.add_parser("notifications"); p.add_argument("file"); p.set_defaults(fn=cmd_notifications)
    p = sub.add_parser("webhook-sink"); p.add_argument("--port", type=int, required=True); p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_webhook_sink)
    for name, fn in (("first-row", cmd_first_row), ("screenshots", cmd_screenshots)):
        p = sub.add_parser(name); p.add_argument("url"); p.add_argument("dashboard")
        if name == "screenshots":
            p.add_argument("outdir")
        p.add_argument("--job", required=True); p.add_argument("--pool", required=True)
        p.add_argument("--instance", action="append", required=True)
        p.set_defaults(fn=fn)
    a = ap.parse_args()
    try:
        return a.fn(a)
    except ApiError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
