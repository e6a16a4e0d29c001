#!/usr/bin/python3
"""The measuring half of bench/compare.sh (which starts the servers and passes their ports
and PIDs here). Not meant to be run by hand.

For each N: grow the held sessions to N and check them in the processlist; then, for each
exporter in turn (only it is scraped, the session holder is idle): warm-up scrapes, then S
sequential scrapes of /metrics, measuring latency, the exporter's and mariadbd's CPU time
(/proc/PID/stat utime+stime), RSS and the exposition; then the same SQL each exporter sends
per scrape (captured from the general log), run S times by a native C client
(libmariadb via python3-mysqldb, rows stored but not decoded): the floor.
"""

import argparse
import http.client
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.parse

import MySQLdb._mysql as mysql
from MySQLdb._exceptions import Error as MySQLError

from procfs import cpu_ticks_ms, rss_mib, thread_runtimes

# What Prometheus 2.42 sends. The main comparison leaves out Accept-Encoding (uncompressed
# expositions for both); the gzip rows repeat the scrapes with `Accept-Encoding: gzip`, as
# Prometheus sends it.
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

# Targets of the scaling issue, as (metric key, max ratio ours/theirs), judged at every N of
# at least TARGETS_FROM_N (at the largest N when the run has none that large).
TARGETS = [
    ("db_cpu", 0.5),
    ("lat_median", 0.5),
    ("exp_cpu", 0.35),
    ("rss", 0.6),
]
TARGETS_FROM_N = 4000
# No statement of ours may take longer than this at any N (its slowest round, native client).
SLOWEST_MS = 250.0
# Our RSS is "flat in N" when it grows by at most this much from the smallest N to the largest.
RSS_FLAT_MIB = 2.0


TICK_FALLBACKS = []  # pids whose CPU had to be read in clock ticks (a thread ended)


class CpuMeter:
    """CPU time of a process between start() and stop(), in ms. Summed per thread in ns; if
    a thread ended in between (its time is then gone from /proc/PID/task), the clock-tick
    total is used instead."""

    def __init__(self, pid):
        self.pid = pid

    def start(self):
        self.ticks0 = cpu_ticks_ms(self.pid)
        self.threads0 = thread_runtimes(self.pid)

    def stop(self):
        threads1 = thread_runtimes(self.pid)
        ticks = cpu_ticks_ms(self.pid) - self.ticks0
        if not set(self.threads0) <= set(threads1):
            TICK_FALLBACKS.append(self.pid)
            return ticks
        return sum(ns - self.threads0.get(tid, 0) for tid, ns in threads1.items()) / 1e6


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


class Scraper:
    """Sequential GETs over one keep-alive connection, as Prometheus scrapes."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path or "/"
        self.conn = None

    def get(self, gzip=False):
        headers = {"Accept": ACCEPT}
        if gzip:
            headers["Accept-Encoding"] = "gzip"
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                t0 = time.perf_counter()
                self.conn.request("GET", self.path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                dt = time.perf_counter() - t0
                if resp.status != 200:
                    raise RuntimeError(f"{self.host}:{self.port}{self.path}: HTTP {resp.status}")
                return body, dt
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 2:
                    raise


def exposition_stats(body):
    text = body.decode("utf-8", "replace")
    series = sum(1 for l in text.splitlines() if l and not l.startswith("#"))
    families = sum(1 for l in text.splitlines() if l.startswith("# TYPE "))
    return len(body), series, families


def sql_connect(a, unix_socket=None):
    if unix_socket:
        return mysql.connect(unix_socket=unix_socket, user="root")
    return mysql.connect(host="127.0.0.1", port=a.db_port, user=a.raw_user,
                         passwd=a.raw_password)


def sql_rows(conn, sql):
    conn.query(sql)
    r = conn.store_result()
    return r.fetch_row(maxrows=0) if r is not None else ()


def run_raw(conn, sql):
    """The statement's result read into the client library; nothing decoded. A statement
    that fails here failed for the exporter too (e.g. mysqld_exporter asks for
    query_response_time_stats, a variable of a plugin MariaDB does not load by default):
    its round trip is part of the scrape all the same."""
    try:
        conn.query(sql)
        conn.store_result()
    except MySQLError:
        pass


class Bench:
    def __init__(self, a):
        self.a = a
        self.root = sql_connect(a, unix_socket=a.db_sock)
        self.exporters = [
            ("ours", a.ours_pid, Scraper(a.ours_url), a.ours_user),
            ("mysqld_exporter", a.theirs_pid, Scraper(a.theirs_url), a.theirs_user),
        ]
        self.holder = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(__file__), "hold_sessions.py"),
             "--port", str(a.db_port), "--user", a.app_user, "--password", a.app_password,
             "--db", a.app_db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def log(self, msg):
        print(f"==> {msg}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- sessions
    def hold(self, n):
        self.holder.stdin.write(f"{n}\n")
        self.holder.stdin.flush()
        line = self.holder.stdout.readline()
        if not line.startswith("ready"):
            raise SystemExit(f"session holder failed while opening {n} sessions")
        # The SLEEPs are sent without waiting: wait until the server runs all of them.
        deadline = time.time() + 60
        while True:
            counts = self.session_counts()
            if counts == (n, n // 10, n // 10) or time.time() > deadline:
                break
            time.sleep(0.2)
        if counts != (n, n // 10, n // 10):
            raise SystemExit(f"processlist shows (sessions, idle in transaction, SLEEP) = "
                             f"{counts}, expected {(n, n // 10, n // 10)}")
        return counts

    def session_counts(self):
        u = self.a.app_user
        (total,), = sql_rows(self.root, f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{u}'")
        (trx,), = sql_rows(self.root,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST p "
            "JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID "
            f"WHERE p.USER = '{u}' AND p.COMMAND = 'Sleep'")
        (sleeping,), = sql_rows(self.root,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            f"WHERE USER = '{u}' AND COMMAND = 'Query' AND INFO LIKE 'SELECT SLEEP(%'")
        return int(total), int(trx), int(sleeping)

    # ---------------------------------------------------------------- queries
    def capture_queries(self):
        """The statements each exporter sends in one scrape, from the general log."""
        for _, _, scraper, _ in self.exporters:
            scraper.get()  # connected and warm: no connect-time statements below
        self.root.query("SET GLOBAL log_output = 'TABLE'")
        self.root.query("TRUNCATE TABLE mysql.general_log")
        self.root.query("SET GLOBAL general_log = ON")
        for _, _, scraper, _ in self.exporters:
            scraper.get()
        self.root.query("SET GLOBAL general_log = OFF")
        rows = sql_rows(self.root,
            "SELECT user_host, command_type, CONVERT(argument USING utf8mb4) "
            "FROM mysql.general_log ORDER BY event_time")
        self.root.query("TRUNCATE TABLE mysql.general_log")
        queries = {}
        for name, _, _, user in self.exporters:
            qs = [arg.decode() for (uh, ct, arg) in rows
                  if uh.decode().startswith(f"{user}[") and ct.decode() in ("Query", "Execute")]
            if not qs:
                raise SystemExit(f"no statements of {name} ({user}) in the general log")
            queries[name] = qs
        return queries

    def time_raw(self, queries, rounds):
        """Median wall time of one round of all the statements, mariadbd CPU per round, and
        each statement's median and slowest round."""
        conn = sql_connect(self.a)
        for q in queries:  # warm-up
            run_raw(conn, q)
        per_query = [[] for _ in queries]
        totals = []
        db = CpuMeter(self.a.db_pid)
        db.start()
        for _ in range(rounds):
            t_round = 0.0
            for i, q in enumerate(queries):
                t0 = time.perf_counter()
                run_raw(conn, q)
                dt = time.perf_counter() - t0
                per_query[i].append(dt)
                t_round += dt
            totals.append(t_round)
        db_cpu = db.stop() / rounds
        conn.close()
        return (statistics.median(totals) * 1000, db_cpu,
                [statistics.median(x) * 1000 for x in per_query],
                [max(x) * 1000 for x in per_query])

    # ---------------------------------------------------------------- scrapes
    def measure(self, scrapes, warmup, block=10):
        """Scrapes the exporters in alternating blocks of `block` scrapes, so that a busy
        moment of the machine falls on both alike; CPU is metered around each block."""
        acc = {name: {"lat": [], "exp": 0.0, "db": 0.0} for name, *_ in self.exporters}
        for _, _, scraper, _ in self.exporters:
            for _ in range(warmup):
                scraper.get()
        done = 0
        while done < scrapes:
            k = min(block, scrapes - done)
            for name, pid, scraper, _ in self.exporters:
                exp, db = CpuMeter(pid), CpuMeter(self.a.db_pid)
                exp.start()
                db.start()
                for _ in range(k):
                    body, dt = scraper.get()
                    acc[name]["lat"].append(dt * 1000)
                acc[name]["exp"] += exp.stop()
                acc[name]["db"] += db.stop()
                acc[name]["body"] = body
            done += k
        out = {}
        for name, pid, _, _ in self.exporters:
            x = acc[name]
            nbytes, series, families = exposition_stats(x["body"])
            # NaN where the kernel gives none: the table prints it as such.
            rss, anon = (float("nan") if v is None else v for v in rss_mib(pid))
            out[name] = {
                "lat_median": statistics.median(x["lat"]),
                "lat_p90": p90(x["lat"]),
                "exp_cpu": x["exp"] / scrapes,
                "db_cpu": x["db"] / scrapes,
                "rss": rss,
                "rss_anon": anon,
                "bytes": nbytes,
                "series": series,
                "families": families,
                "body": x["body"],
            }
        return out

    def measure_gzip(self, scrapes):
        """S scrapes of each exporter with `Accept-Encoding: gzip`: the exporter's CPU per
        scrape and the bytes on the wire (checked to be gzip)."""
        out = {}
        for name, pid, scraper, _ in self.exporters:
            exp = CpuMeter(pid)
            exp.start()
            for _ in range(scrapes):
                body, _ = scraper.get(gzip=True)
            cpu = exp.stop() / scrapes
            if body[:2] != b"\x1f\x8b":
                raise SystemExit(f"{name} did not answer gzip to Accept-Encoding: gzip")
            out[name] = {"gz_exp_cpu": cpu, "gz_bytes": len(body)}
        return out

    def profile(self, scrapes, outdir, n):
        """`perf record` of our exporter over S scrapes; prints the top entries by self time
        (what the scaling issue asks to show before and after each change)."""
        _, pid, scraper, _ = self.exporters[0]
        data = os.path.join(outdir, f"perf-ours-{n}.data")
        rec = subprocess.Popen(["perf", "record", "-F", "2999", "-p", str(pid), "-o", data],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        for _ in range(scrapes):
            scraper.get()
        rec.send_signal(2)
        rec.wait(timeout=60)
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                              "--sort", "symbol", "--percent-limit", "1"],
                             capture_output=True, text=True)
        lines = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
        print()
        print(f"perf profile of ours at N = {n:,}, {scrapes} scrapes (self time, entries >= 1 %; "
              f"{data}):")
        for l in lines[:20]:
            print("  " + " ".join(l.split())[:110])

    def idle_db_cpu(self, seconds=3.0):
        db = CpuMeter(self.a.db_pid)
        db.start()
        time.sleep(seconds)
        return db.stop() / seconds


# -------------------------------------------------------------------- output
ROWS = [
    ("scrape latency, median (ms)", "lat_median", "{:.1f}"),
    ("scrape latency, p90 (ms)", "lat_p90", "{:.1f}"),
    ("exporter CPU per scrape (ms)", "exp_cpu", "{:.2f}"),
    ("server CPU per scrape (ms)", "db_cpu", "{:.2f}"),
    ("exporter RSS (MiB)", "rss", "{:.1f}"),
    ("  of which anonymous (MiB)", "rss_anon", "{:.1f}"),
    ("exposition (bytes)", "bytes", "{:,}"),
    ("with gzip: exposition (bytes)", "gz_bytes", "{:,}"),
    ("with gzip: exporter CPU per scrape (ms)", "gz_exp_cpu", "{:.2f}"),
    ("series", "series", "{:,}"),
    ("metric families", "families", "{:,}"),
    ("raw SQL of one scrape, median (ms)", "raw_ms", "{:.1f}"),
    ("server CPU of that raw SQL (ms)", "raw_db_cpu", "{:.2f}"),
    ("scrape latency / raw SQL", "over_raw", "{:.2f}"),
]


def fmt(spec, v):
    return spec.format(v) if v is not None else "-"


def print_table(n, counts, r):
    ours, theirs = r["ours"], r["mysqld_exporter"]
    limits = dict(TARGETS)
    print()
    print(f"N = {n:,} held sessions ({counts[1]:,} idle in transaction, "
          f"{counts[2]:,} running SLEEP, {n - counts[1] - counts[2]:,} idle; checked in the processlist)")
    w = 40
    print(f"{'':{w}} {'ours':>10} {'mysqld_exp':>10} {'ratio':>7}  target")
    for label, key, spec in ROWS:
        a, b = ours.get(key), theirs.get(key)
        ratio = a / b if a is not None and b else None
        target = ""
        if key in limits and ratio is not None:
            ok = ratio <= limits[key]
            target = f"<= {limits[key]:.2f}x  {'PASS' if ok else 'MISS'}"
        print(f"{label:{w}} {fmt(spec, a):>10} {fmt(spec, b):>10} "
              f"{(f'{ratio:.2f}x' if ratio is not None else ''):>7}  {target}")


def print_queries(n, queries, r):
    print()
    print(f"raw SQL per statement at N = {n:,} (median ms, native client, rows not decoded)")
    for name in ("ours", "mysqld_exporter"):
        for q, ms in zip(queries[name], r[name]["raw_per_query"]):
            one = " ".join(q.split())
            if len(one) > 90:
                one = one[:87] + "..."
            print(f"  {name:<15} {ms:7.2f}  {one}")


def print_slowest(n, queries, r):
    """Our slowest statement at this N: its slowest round and its median."""
    ours = r["ours"]
    i = max(range(len(queries["ours"])), key=lambda k: ours["raw_max_per_query"][k])
    one = " ".join(queries["ours"][i].split())
    if len(one) > 90:
        one = one[:87] + "..."
    print(f"  slowest statement of ours at N = {n:,}: {ours['raw_max_per_query'][i]:.1f} ms at worst, "
          f"{ours['raw_per_query'][i]:.1f} ms median: {one}")


def main():
    p = argparse.ArgumentParser()
    for k in ("db-port", "db-pid", "ours-pid", "theirs-pid", "scrapes", "warmup"):
        p.add_argument("--" + k, type=int, required=True)
    for k in ("db-sock", "ours-url", "theirs-url", "ours-user", "theirs-user", "raw-user",
              "raw-password", "app-user", "app-password", "app-db", "sessions"):
        p.add_argument("--" + k, required=True)
    a = p.parse_args()
    ns = [int(x) for x in a.sessions.split(",")]
    if ns != sorted(ns):
        raise SystemExit("--sessions: give the counts in increasing order")

    b = Bench(a)
    idle = b.idle_db_cpu()
    print(f"server CPU while nothing scrapes: {idle:.2f} ms/s; "
          f"load average before: {os.getloadavg()[0]:.2f}")

    results = {}
    for n in ns:
        b.log(f"holding {n} sessions")
        counts = b.hold(n)
        # Captured with the sessions in place: some statements depend on what is there
        # (ours reads the last statements only when a session sleeps in a transaction).
        b.log(f"N={n}: capturing the statements of one scrape of each exporter (general log)")
        queries = b.capture_queries()
        b.log(f"N={n}: {a.warmup} + {a.scrapes} scrapes of each exporter, alternating in blocks")
        r = b.measure(a.scrapes, a.warmup)
        b.log(f"N={n}: {a.scrapes} scrapes of each exporter with Accept-Encoding: gzip")
        for name, gz in b.measure_gzip(a.scrapes).items():
            r[name].update(gz)
        for name in r:
            b.log(f"N={n}: raw SQL of {name}, {a.scrapes} rounds")
            raw_ms, raw_cpu, per_q, max_q = b.time_raw(queries[name], a.scrapes)
            r[name].update(raw_ms=raw_ms, raw_db_cpu=raw_cpu, raw_per_query=per_q,
                           raw_max_per_query=max_q, over_raw=r[name]["lat_median"] / raw_ms)
        now = b.session_counts()
        if now != counts:
            print(f"warning: the sessions changed during the run: {counts} -> {now}")
        results[n] = (counts, r)
        print_table(n, counts, r)
        print_queries(n, queries, r)
        print_slowest(n, queries, r)
        perf_dir = os.environ.get("BENCH_PERF")
        if perf_dir and n == ns[-1]:
            b.log(f"N={n}: perf record of ours over {a.scrapes} scrapes")
            b.profile(a.scrapes, perf_dir, n)
        sys.stdout.flush()

    # ------------------------------------------------------------ summary
    nmax = ns[-1]
    _, rmax = results[nmax]
    judged = [n for n in ns if n >= TARGETS_FROM_N] or [nmax]
    print()
    print(f"targets at N = {', '.join(f'{n:,}' for n in judged)} (ours / mysqld_exporter 0.14):")
    misses = total = 0
    for n in judged:
        r = results[n][1]
        for key, limit in TARGETS:
            label = next(l for l, k, _ in ROWS if k == key)
            a, b_ = r["ours"][key], r["mysqld_exporter"][key]
            ratio = a / b_
            ok = ratio <= limit
            misses += not ok
            total += 1
            spec = next(sp for _, k, sp in ROWS if k == key)
            print(f"  N = {n:>6,}  {label:<30} {ratio:5.2f}x  ({spec.format(a)} vs {spec.format(b_)}; "
                  f"target <= {limit:.2f}x)  {'PASS' if ok else 'MISS'}")
    slowest = max(((max(r["ours"]["raw_max_per_query"]), n) for n, (_, r) in results.items()))
    ok = slowest[0] <= SLOWEST_MS
    misses += not ok
    total += 1
    print(f"  slowest statement of ours at any N: {slowest[0]:.1f} ms (at N = {slowest[1]:,}; "
          f"target <= {SLOWEST_MS:.0f} ms)  {'PASS' if ok else 'MISS'}")
    if len(ns) > 1:
        rss0, rss1 = results[ns[0]][1]["ours"], rmax["ours"]
        grow = rss1["rss"] - rss0["rss"]
        ok = grow <= RSS_FLAT_MIB
        misses += not ok
        total += 1
        print(f"  our RSS from N = {ns[0]:,} to {nmax:,}: {rss0['rss']:.1f} -> {rss1['rss']:.1f} MiB "
              f"({grow:+.1f} MiB, of which anonymous {rss1['rss_anon'] - rss0['rss_anon']:+.1f}; "
              f"flat: <= {RSS_FLAT_MIB:+.1f} MiB)  {'PASS' if ok else 'MISS'}")
        print("  our RSS at each N: " + ", ".join(
            f"{n:,}: {results[n][1]['ours']['rss']:.1f}" for n in ns) + " MiB")
    print(f"  {total - misses} of {total} targets met")
    if len(ns) > 1:
        nmin = ns[0]
        r0 = results[nmin][1]
        print(f"growth from N = {nmin:,} to N = {nmax:,} ({nmax / nmin:.0f}x the sessions), "
              f"ours | mysqld_exporter:")
        for label, key, spec in (("series", "series", "{:,}"), ("exposition (bytes)", "bytes", "{:,}"),
                                 ("exporter CPU per scrape (ms)", "exp_cpu", "{:.2f}"),
                                 ("server CPU per scrape (ms)", "db_cpu", "{:.2f}"),
                                 ("scrape latency, median (ms)", "lat_median", "{:.1f}")):
            cells = []
            for who in ("ours", "mysqld_exporter"):
                x0, x1 = r0[who][key], rmax[who][key]
                cells.append(f"{spec.format(x0)} -> {spec.format(x1)} ({x1 / x0:.2f}x)")
            print(f"  {label:<30} {cells[0]:<28} | {cells[1]}")
        o0, o1 = r0["ours"], rmax["ours"]
        grows = o1["series"] > o0["series"] or o1["bytes"] > 1.05 * o0["bytes"]
        print(f"  our exposition {'GROWS' if grows else 'does not grow'} with N "
              f"(same series and bytes within 5%: {'no' if grows else 'yes'}); "
              f"our exporter CPU per scrape x{o1['exp_cpu'] / o0['exp_cpu']:.2f}")
    keep = os.environ.get("BENCH_KEEP_BODIES")
    if keep:
        for n, (_, r) in results.items():
            for name in r:
                with open(os.path.join(keep, f"{name}-{n}.txt"), "wb") as f:
                    f.write(r[name]["body"])
    print(f"load average after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs; other work "
          f"on the machine shows here and in the latencies)")
    if TICK_FALLBACKS:
        print(f"note: {len(TICK_FALLBACKS)} CPU readings fell back to clock ticks (10 ms "
              f"resolution) because a thread ended during the measurement (pids "
              f"{sorted(set(TICK_FALLBACKS))})")
    b.holder.stdin.close()
    b.holder.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
