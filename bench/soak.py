#!/usr/bin/python3
"""The working half of bench/soak.sh (which starts the servers, the session holders and the
exporter, and passes their ports and PIDs here). Not meant to be run by hand.

  churn   — connects, runs `SELECT 1` and disconnects, --rate times a second, paced: cycle i
            is due at start + i / rate, taken by the next free one of a few threads (so a
            slow connect does not stall the pace); a cycle more than a second late is
            dropped and counted as missed, never made up in a burst. Writes its counts to
            --status (JSON, replaced every second).
  scrape  — scrapes the exporter as Prometheus and a person would: /metrics every second,
            /probe?target=NAME every second (the targets in turn), the status page / every
            5 s, each on its own keep-alive connection with X-Prometheus-Scrape-Timeout-Seconds
            and gzip. Counts answers other than 200, errors (timeouts, resets) and answers
            slower than the scrape timeout; keeps the tokio task count, the series count and
            mysql_up of the last answers. Writes all of it to --status every second.
  watch   — every second reads the exporter's RSS and open fds from /proc and the scraper's
            last numbers; after --warmup seconds prints the first line (the start), then one
            every --every minutes until --minutes; then the table start / end / max against
            the bounds, PASS/FAIL per line. Exits 1 when anything failed, or as soon as a
            process of the soak is gone.

Each report line's numbers are medians of the last WINDOW per-second readings: one reading
can catch a scrape in flight (an extra connection, a few tasks, a body's worth of memory);
the median of ten does not, while a leak moves it like any single reading.
"""

import argparse
import collections
import gzip
import http.client
import json
import math
import os
import re
import signal
import statistics
import sys
import threading
import time

from procfs import cpu_ticks_ms, rss_mib

ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
LATE_DROP_S = 1.0       # churn: a cycle this late is dropped (missed), not made up
WINDOW = 10             # watch: per-second readings a report line takes the median of
TASKS_RE = re.compile(r"^mysql_exporter_runtime_tasks (\S+)$", re.M)
UP_RE = re.compile(r'^mysql_up(?:\{target="([^"]*)"\})? (\S+)$', re.M)


def write_status(path, doc):
    """Replaces PATH with DOC as JSON in one rename, so a reader never sees half of it."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def read_status(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def stop_on_term(stop):
    """SIGTERM (stop_pid) and SIGINT set STOP: the loops finish and write their last status."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


# -------------------------------------------------------------------- churn
def churn(a):
    import MySQLdb._mysql as mysql

    stop = threading.Event()
    stop_on_term(stop)
    lock = threading.Lock()
    c = {"done": 0, "errors": 0, "missed": 0, "last_error": ""}
    next_slot = [0]
    start = time.monotonic()

    def cycle():
        conn = mysql.connect(host=a.host, port=a.port, user=a.user, passwd=a.password,
                             db=a.db, connect_timeout=10, read_timeout=10, write_timeout=10)
        try:
            conn.query("SELECT 1")
            conn.store_result()
        finally:
            conn.close()

    def worker():
        while not stop.is_set():
            with lock:
                i = next_slot[0]
                next_slot[0] += 1
            due = start + i / a.rate
            wait = due - time.monotonic()
            if wait > 0:
                if stop.wait(wait):
                    return
            elif -wait > LATE_DROP_S:
                with lock:
                    c["missed"] += 1
                continue
            try:
                cycle()
            except Exception as e:  # noqa: BLE001 — any failure of the cycle is counted
                with lock:
                    c["errors"] += 1
                    c["last_error"] = str(e)[:200]
            else:
                with lock:
                    c["done"] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in threads:
        t.start()
    while True:
        stopping = stop.wait(1.0)
        with lock:
            doc = dict(c, rate=a.rate, elapsed=time.monotonic() - start)
        write_status(a.status, doc)
        if stopping:
            break
    for t in threads:
        t.join(timeout=12)


# -------------------------------------------------------------------- scrape
class Job:
    """GETs of one path (or paths in turn) every PERIOD seconds over one keep-alive connection."""

    def __init__(self, port, paths, period, timeout, expect_up=()):
        self.port, self.paths, self.period, self.timeout = port, paths, period, timeout
        # The mysql_up series each answer should have at 1 ("" is the unlabelled one of
        # /probe); none: the answer is not an exposition (the status page).
        self.expect_up = expect_up
        self.parse = bool(expect_up)
        self.conn = None
        self.n = collections.Counter()   # requests ok non200 errors late
        self.max_s = 0.0
        self.last_error = ""
        self.last = {}                   # path -> exposition() of its last 200 answer
        self.down = collections.Counter()  # target or "" -> answers with its mysql_up != 1
        self.answers = 0                 # 200 answers parsed

    def get(self, path):
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip",
                   "X-Prometheus-Scrape-Timeout-Seconds": f"{self.timeout:g}"}
        # A keep-alive connection the server closed while idle is reopened once, as
        # Prometheus' client does; that is not a failed scrape.
        for attempt in (1, 2):
            fresh = self.conn is None
            try:
                if fresh:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                           timeout=self.timeout * 2)
                self.conn.request("GET", path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                if resp.getheader("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return resp.status, body
            except (http.client.HTTPException, OSError):
                self.conn = None
                if fresh or attempt == 2:
                    raise

    def run(self, stop, lock):
        start = time.monotonic()
        k = 0
        while not stop.is_set():
            path = self.paths[k % len(self.paths)]
            t0 = time.monotonic()
            try:
                status, body = self.get(path)
            except Exception as e:  # noqa: BLE001 — timeouts, resets: a failed request
                status, body, err = None, b"", f"{type(e).__name__}: {e}"[:200]
            else:
                err = ""
            dt = time.monotonic() - t0
            parsed = exposition(body) if status == 200 and self.parse else None
            with lock:
                self.n["requests"] += 1
                self.max_s = max(self.max_s, dt)
                if status is None:
                    self.n["errors"] += 1
                    self.last_error = f"{path}: {err}"
                elif status != 200:
                    self.n["non200"] += 1
                    self.last_error = f"{path}: HTTP {status}: {body[:120]!r}"
                elif dt > self.timeout:
                    self.n["late"] += 1
                    self.last_error = f"{path}: answered in {dt:.1f} s, after the scrape timeout"
                else:
                    self.n["ok"] += 1
                if parsed is not None:
                    self.last[path] = parsed
                    self.answers += 1
                    for t in self.expect_up:
                        self.down[t] += parsed[2].get(t) != 1.0
            k += 1
            # The next tick; ticks a slow answer overran are skipped, not sent in a burst.
            nxt = start + k * self.period
            now = time.monotonic()
            if nxt < now:
                k = math.ceil((now - start) / self.period)
                nxt = start + k * self.period
            stop.wait(max(0.0, nxt - now))


def exposition(body):
    """(sample lines, tasks or None, {target or "": mysql_up}) of an exposition."""
    text = body.decode("utf-8", "replace")
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    m = TASKS_RE.search(text)
    tasks = float(m.group(1)) if m else None
    up = {t or "": float(v) for t, v in UP_RE.findall(text)}
    return series, tasks, up


def scrape(a):
    stop = threading.Event()
    stop_on_term(stop)
    lock = threading.Lock()
    targets = a.targets.split(",")
    jobs = {
        "metrics": Job(a.port, ["/metrics"], 1.0, a.timeout, expect_up=targets),
        "probe": Job(a.port, [f"/probe?target={t}" for t in targets], 1.0, a.timeout,
                     expect_up=[""]),
        "status": Job(a.port, ["/"], 5.0, a.timeout),
    }
    threads = [threading.Thread(target=j.run, args=(stop, lock), daemon=True) for j in jobs.values()]
    for t in threads:
        t.start()
    start = time.monotonic()
    while True:
        stopping = stop.wait(1.0)
        with lock:
            doc = {"elapsed": time.monotonic() - start, "jobs": {}, "probe": {}, "metrics": None}
            for name, j in jobs.items():
                doc["jobs"][name] = dict(j.n, max_s=j.max_s, last_error=j.last_error,
                                         answers=j.answers, down=sum(j.down.values()),
                                         expected_up=j.answers * len(j.expect_up))
            m = jobs["metrics"].last.get("/metrics")
            if m:
                doc["metrics"] = {"series": m[0], "tasks": m[1], "up": m[2]}
            for t in targets:
                p = jobs["probe"].last.get(f"/probe?target={t}")
                if p:
                    doc["probe"][t] = {"series": p[0], "tasks": p[1], "up": p[2].get("")}
        write_status(a.status, doc)
        if stopping:
            break


# -------------------------------------------------------------------- watch
def alive(pid):
    """Whether PID runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def named(spec):
    """"a=1,b=2" -> {"a": "1", "b": "2"}."""
    return dict(item.split("=", 1) for item in spec.split(",") if item)


class Bounds:
    """The bounds of bench/soak.sh's header, with their reasons (printed with the table)."""

    @staticmethod
    def rss(start):
        return start + max(8.0, 0.25 * start)

    @staticmethod
    def fds(start):
        return start + 8

    @staticmethod
    def tasks(start):
        return start + 16

    @staticmethod
    def series(start):
        return start * 1.10 + 50

    TEXT = {
        "rss": "start + max(8 MiB, 25 %)",
        "fds": "start + 8",
        "tasks": "start + 16",
        "series": "start x 1.10 + 50",
    }


def watch(a):
    stop = threading.Event()
    stop_on_term(stop)
    pids = {k: int(v) for k, v in named(a.pids).items()}
    churn_files = named(a.churn_status)
    servers = list(churn_files)
    exp = pids["exporter"]
    readings = []        # per second: (t, rss, anon, fds, tasks, series, probe series, cpu ms)
    reports = []         # per report: dict
    fails = []
    t0 = None
    started = time.monotonic()
    every_s = a.every * 60.0
    total_s = a.minutes * 60.0
    next_report = 0.0
    probe_target = servers[0]

    def gone():
        return [f"{k} (pid {p})" for k, p in pids.items() if not alive(p)]

    def read():
        sc = read_status(a.scrape_status) or {}
        m = sc.get("metrics") or {}
        p = (sc.get("probe") or {}).get(probe_target) or {}
        rss, anon = rss_mib(exp)
        return (time.monotonic(), rss, anon, open_fds(exp), m.get("tasks"), m.get("series"),
                p.get("series"), cpu_ticks_ms(exp))

    def med(i):
        vals = [r[i] for r in readings[-WINDOW:] if r[i] is not None]
        return statistics.median(vals) if vals else None

    def report(now):
        sc = read_status(a.scrape_status) or {}
        jobs = sc.get("jobs", {})
        churns = {s: read_status(f) or {} for s, f in churn_files.items()}
        r = {"t": now - t0, "rss": med(1), "anon": med(2), "fds": med(3), "tasks": med(4),
             "series": med(5), "probe": med(6), "cpu_ms": readings[-1][7], "at": now,
             "requests": sum(j.get("requests", 0) for j in jobs.values()),
             "failed": sum(j.get(k, 0) for j in jobs.values() for k in ("non200", "errors", "late")),
             "churn": {s: (c.get("done", 0), c.get("errors", 0), c.get("missed", 0),
                           c.get("elapsed", 0.0)) for s, c in churns.items()}}
        prev = reports[-1] if reports else None
        rate = {}
        for s in servers:
            if prev:
                d0, _, _, e0 = prev["churn"][s]
                d1, _, _, e1 = r["churn"][s]
                rate[s] = (d1 - d0) / (e1 - e0) if e1 > e0 else 0.0
            else:
                d1, _, _, e1 = r["churn"][s]
                rate[s] = d1 / e1 if e1 else 0.0
        cpu = ""
        if prev:
            cpu = f"{(r['cpu_ms'] - prev['cpu_ms']) / (r['at'] - prev['at']) / 10:.1f}"
        req = r["requests"] - (prev["requests"] if prev else 0)
        bad = r["failed"] - (prev["failed"] if prev else 0)
        reports.append(r)
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        print(f"{r['t'] / 60:6.1f} {fmt(r['rss'], '9.1f')} {fmt(r['anon'], '9.1f')} "
              f"{fmt(r['fds'], '5.0f')} {fmt(r['tasks'], '6.0f')} {fmt(r['series'], '7.0f')} "
              f"{fmt(r['probe'], '7.0f')} {cpu:>6} "
              + " ".join(f"{rate[s]:8.1f}" for s in servers)
              + f" {bad:>6}/{req:<6}", flush=True)

    print(f"the exporter (pid {exp}): RSS, open fds and CPU from /proc; tokio tasks and series "
          f"from its /metrics (the scraper's last answer); probe series from "
          f"/probe?target={probe_target}; each the median of the last {WINDOW} per-second "
          f"readings. churn/s: connect + SELECT 1 + disconnect cycles done per second in the "
          f"interval (asked: {a.rate:g} per server).")
    print(f"warm-up {a.warmup:g} s (sessions held, churn and scrapes running), then a line "
          f"every {a.every:g} min for {a.minutes:g} min")
    print()
    print(f"{'min':>6} {'RSS MiB':>9} {'anon MiB':>9} {'fds':>5} {'tasks':>6} {'series':>7} "
          f"{'probe':>7} {'CPU %':>6} "
          + " ".join(f"{s[:8]:>8}" for s in servers) + "  failed/requests")
    print(f"{'':>6} {'':>9} {'':>9} {'':>5} {'':>6} {'':>7} {'series':>7} {'':>6} "
          + " ".join(f"{'churn/s':>8}" for _ in servers) + "  (scrapes)", flush=True)

    died = []
    while not stop.is_set():
        dead = gone()
        if dead:
            died = dead
            break
        try:
            readings.append(read())
        except (FileNotFoundError, ProcessLookupError):
            continue
        now = time.monotonic()
        if t0 is None and now - started >= a.warmup:
            t0 = now
        if t0 is not None and now - t0 >= next_report - 0.5:
            report(now)
            if next_report >= total_s - 0.5:
                break
            next_report = min(next_report + every_s, total_s)
        # One reading a second, on the second.
        stop.wait(1.0 - (time.monotonic() - started) % 1.0)
    if stop.is_set():
        print("stopped before the end", file=sys.stderr)
        sys.exit(130)

    print()
    if died:
        fails.append(f"{', '.join(died)} exited during the soak (its log is in the work dir)")
        for f in fails:
            print(f"FAIL: {f}")
        sys.exit(1)
    if len(reports) < 2:
        print("FAIL: fewer than two reports: give --minutes at least one second")
        sys.exit(1)

    start, end = reports[0], reports[-1]
    peak = {}
    base_i = next(i for i, r in enumerate(readings) if r[0] >= start["at"] - WINDOW)
    for k, i in (("rss", 1), ("anon", 2), ("fds", 3), ("tasks", 4), ("series", 5), ("probe", 6)):
        vals = [r[i] for r in readings[base_i:] if r[i] is not None]
        peak[k] = max(vals) if vals else None

    rows = []

    def row(name, key, bound):
        s, e = start[key], end[key]
        if s is None or e is None:
            rows.append((name, s, e, peak[key], "-", "FAIL", "no value (is the metric missing?)"))
            return
        b = bound(s)
        rows.append((name, s, e, peak[key], b, "PASS" if e <= b else "FAIL", ""))

    row("RSS MiB", "rss", Bounds.rss)
    row("open fds", "fds", Bounds.fds)
    row("tokio tasks", "tasks", Bounds.tasks)
    row("series in /metrics", "series", Bounds.series)
    row(f"series in /probe?target={probe_target}", "probe", Bounds.series)
    texts = [Bounds.TEXT[k] for k in ("rss", "fds", "tasks", "series", "series")]

    print(f"{'quantity':<34} {'start':>9} {'end':>9} {'max':>9} {'bound: end <=':>14}  verdict")
    for (name, s, e, mx, b, v, note), text in zip(rows, texts):
        f = lambda x: "-" if x is None or x == "-" else f"{x:9.1f}"  # noqa: E731
        print(f"{name:<34} {f(s):>9} {f(e):>9} {f(mx):>9} {f(b):>14}  {v}  ({text}){' ' + note if note else ''}")
        if v == "FAIL":
            fails.append(f"{name}: {s} at the start, {e} at the end: past {text}")
    print("(max: the highest single per-second reading after warm-up; the bounds take the "
          "start and end lines, medians of ten)")
    print()

    # RSS still rising at the end: a leak too slow for the bound above goes on at its pace,
    # while a warm-up's rise shrinks as the caches fill. FAIL when RSS rose in every interval
    # of the second half, by more than 1 MiB in all, and by at least half of what it rose in
    # the first half (not slowing down).
    mid = [r for r in reports if r["t"] <= total_s / 2 + 1][-1]
    half = [r for r in reports if r["t"] > total_s / 2 + 1]
    steps = [b["rss"] - x["rss"] for x, b in zip([mid] + half, half)]
    if len(steps) >= 2:
        first, second = mid["rss"] - start["rss"], end["rss"] - mid["rss"]
        rising = all(d > 0 for d in steps) and second > 1.0 and second >= first / 2
        v = "FAIL" if rising else "PASS"
        print(f"RSS trend: {first:+.1f} MiB in the first half (to minute {mid['t'] / 60:g}), "
              f"{second:+.1f} in the second ({' '.join(f'{d:+.1f}' for d in steps)} per "
              f"interval); FAIL when it rose in every interval of the second half, by more "
              f"than 1 MiB and by at least half the first half's rise: {v}")
        if rising:
            fails.append(f"RSS rose in every interval of the second half, {second:+.1f} MiB "
                         f"(first half {first:+.1f}): still growing at the end, not slowing down")
    else:
        print("RSS trend: fewer than two intervals in the second half, not judged "
              "(give --every at most a quarter of --minutes)")

    # Churn: what was done between the start line and the end line.
    for s in servers:
        d0, _, _, e0 = start["churn"][s]
        d1, err, missed, e1 = end["churn"][s]
        got = (d1 - d0) / (e1 - e0) if e1 > e0 else 0.0
        v = "PASS" if got >= 0.8 * a.rate else "FAIL"
        print(f"churn on {s}: {got:.1f} connects/disconnects a second (asked {a.rate:g}, at "
              f"least 80 %: {0.8 * a.rate:g}); {err} failed, {missed} dropped late in all: {v}")
        if v == "FAIL":
            last = (read_status(churn_files[s]) or {}).get("last_error", "")
            fails.append(f"churn on {s}: {got:.1f}/s, below 80 % of {a.rate:g}/s"
                         + (f" (last error: {last})" if last else "")
                         + "; the machine may be too slow for this rate: try --churn lower")

    # Scrapes: all of the run, warm-up included.
    sc = read_status(a.scrape_status) or {}
    total = failed = 0
    for name, j in sc.get("jobs", {}).items():
        bad = j.get("non200", 0) + j.get("errors", 0) + j.get("late", 0)
        total += j.get("requests", 0)
        failed += bad
        print(f"scrapes of {name}: {j.get('requests', 0)} requests, {j.get('non200', 0)} not "
              f"200, {j.get('errors', 0)} errors or timeouts, {j.get('late', 0)} later than "
              f"{a.timeout:g} s; slowest {j.get('max_s', 0):.2f} s"
              + (f"; last problem: {j['last_error']}" if j.get("last_error") else ""))
    share = failed / total if total else 1.0
    v = "PASS" if total and share <= 0.01 else "FAIL"
    print(f"scrapes failed: {failed} of {total} ({100 * share:.2f} %; at most 1 %): {v}")
    if v == "FAIL":
        fails.append(f"{failed} of {total} requests to the exporter failed (more than 1 %)")
    ans = sum(j.get("expected_up", 0) for j in sc.get("jobs", {}).values())
    nd = sum(j.get("down", 0) for j in sc.get("jobs", {}).values())
    v = "PASS" if ans and nd <= 0.01 * ans else "FAIL"
    print(f"targets down (mysql_up != 1) in the answers: {nd} of {ans} (at most 1 %): {v}")
    if v == "FAIL":
        fails.append(f"mysql_up was not 1 in {nd} of {ans} target answers: the exporter lost "
                     f"its servers (see the exporter's log)")
    print()
    for f in fails:
        print(f"FAIL: {f}")
    if fails:
        sys.exit(1)
    print("PASS: no growth past the bounds, churn and scrapes at their rates")


# -------------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("churn")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--user", required=True)
    c.add_argument("--password", required=True)
    c.add_argument("--db", required=True)
    c.add_argument("--rate", type=float, required=True)
    c.add_argument("--workers", type=int, default=4)
    c.add_argument("--status", required=True)
    s = sub.add_parser("scrape")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--targets", required=True, help="comma-separated target names")
    s.add_argument("--timeout", type=float, default=5.0)
    s.add_argument("--status", required=True)
    w = sub.add_parser("watch")
    w.add_argument("--pids", required=True, help="name=PID,... of every process of the soak; "
                   "`exporter` is the one measured")
    w.add_argument("--churn-status", required=True, help="server=FILE,...")
    w.add_argument("--scrape-status", required=True)
    w.add_argument("--rate", type=float, required=True)
    w.add_argument("--timeout", type=float, default=5.0)
    w.add_argument("--minutes", type=float, required=True)
    w.add_argument("--every", type=float, required=True)
    w.add_argument("--warmup", type=float, default=30.0)
    a = p.parse_args()
    {"churn": churn, "scrape": scrape, "watch": watch}[a.cmd](a)


if __name__ == "__main__":
    main()
