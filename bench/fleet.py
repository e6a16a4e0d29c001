#!/usr/bin/python3
"""The measuring half of bench/fleet.sh (which starts the servers and the exporter and passes
their ports, sockets and PIDs here). Not meant to be run by hand.

Probes as Prometheus would: every target's /probe once per interval, each at its own fixed
offset, the targets spread evenly over the interval, sent by a pool of threads (each with its
keep-alive connection, so a hung answer holds one thread, not the schedule), with
X-Prometheus-Scrape-Timeout-Seconds. /metrics of all targets every --metrics-every rounds and
the status page (/, and /?page=2 when there is one) every round, each on a connection of its
own. Half a round before round --freeze-at + 1 it counts the exporter's sessions on every
server (information_schema.PROCESSLIST, as root over the server's socket); then it freezes one
server (SIGSTOP: a hung server that keeps its TCP connections). At the end it prints what the
issue asks of a fleet (PASS/MISS): RSS per target, /probe latency of the live targets (and
while a server is frozen), one server connection per target, the start-up (connects per
server per second from the log, time to /-/ready and to all targets connected), /metrics and
the status page against the scrape timeout, the hung target marked down, the sampler interval
in force, the exporter's CPU, and the log lines per target and problem.
"""

import argparse
import calendar
import collections
import concurrent.futures
import http.client
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

from procfs import cpu_ticks_ms

ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
MIB = 1024.0 * 1024.0
# The bounds for a fleet (issue 21, item 3).
RSS_PER_TARGET_MIB = 0.5
PROBE_P99_S = 0.100
# src/web/fleet_page.rs: more targets than DETAILED_TARGETS make / a table of ROWS_PER_PAGE.
DETAILED_TARGETS = 8
ROWS_PER_PAGE = 50
PROBE_THREADS = 64
LATE_S = 0.1            # a probe sent this late: the client, not the exporter, was busy
LISTED_PROBLEMS = 30    # log lines per target and problem printed at most

UP_RE = re.compile(rb"^mysql_up (\S+)$", re.M)
SAMPLER_RE = re.compile(rb"^mysql_exporter_sampler_interval_seconds(?:\{[^}]*\})? (\S+)$", re.M)
TS_RE = re.compile(r"\bts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")
NAME_RE = re.compile(r'target_name="?([^"\s]+)"?')


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k == key:
                return int(rest.split()[0])
    return 0


class Client:
    """Sequential GETs over one keep-alive connection (reopened after an error)."""

    def __init__(self, port, timeout):
        self.port, self.timeout = port, timeout
        self.conn = None

    def get(self, path):
        """(status, body, sent, answered), the times from time.monotonic()."""
        headers = {"Accept": ACCEPT, "X-Prometheus-Scrape-Timeout-Seconds": str(self.timeout)}
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                           timeout=self.timeout + 30)
                t0 = time.monotonic()
                self.conn.request("GET", path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                return resp.status, body, t0, time.monotonic()
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 2:
                    raise


def up_of(body, target=None):
    """mysql_up of the body (of one target's series when `target` is given)."""
    if target is None:
        m = UP_RE.search(body)
    else:
        m = re.search(rb'^mysql_up\{target="%s"\} (\S+)$' % re.escape(target.encode()), body,
                      re.M)
    return float(m.group(1)) if m else None


def log_epoch(line):
    """The `ts=` of a logfmt line as Unix time, or None."""
    m = TS_RE.search(line)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    t = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + float(m.group(7) or 0)
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        t -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return t


def connects(log):
    """{target: [Unix time of each `connected to MySQL`]} from the exporter's log."""
    out = collections.defaultdict(list)
    try:
        with open(log) as f:
            for line in f:
                if 'message="connected to MySQL"' not in line:
                    continue
                m, t = NAME_RE.search(line), log_epoch(line)
                if m and t is not None:
                    out[m.group(1)].append(t)
    except OSError:
        pass
    return out


def most_within(times, width=1.0):
    """The most of `times` within any window of `width` seconds."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= width:
            j += 1
        best = max(best, i - j + 1)
    return best


def pct(values, q):
    """The q-quantile (0..1) of `values`, nearest rank; None when empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(-(-q * len(s) // 1)) - 1))]


def exporter_sessions(sock, user):
    """The server's sessions of `user`, counted as root over the socket (bench root_sql)."""
    sql = f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}'"
    try:
        out = subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={sock}", "-N", "-B",
                              "-e", sql], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 or not out.stdout.split():
        return None
    return int(out.stdout.split()[0])


def read_tsv(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--targets-file", required=True,
                   help="TSV: name, server index (-1: none, the dead target)")
    p.add_argument("--servers-file", required=True, help="TSV: index, port, socket, PID")
    p.add_argument("--hung-target", required=True)
    p.add_argument("--hung-server", type=int, required=True)
    p.add_argument("--dead-target", required=True)
    p.add_argument("--exporter-user", default="exporter")
    p.add_argument("--started", type=float, required=True, help="Unix time the exporter started")
    p.add_argument("--ready-at", type=float, required=True,
                   help="Unix time /-/ready answered 200 (polled every 0.2 s)")
    p.add_argument("--connect-rate", type=float, required=True,
                   help="limits.connects_per_server_per_second of the config")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--interval", type=float, default=15.0)
    p.add_argument("--timeout", type=float, default=4.0)
    p.add_argument("--metrics-every", type=int, default=1)
    p.add_argument("--freeze-at", type=int, default=3)
    a = p.parse_args()

    rows = read_tsv(a.targets_file)
    targets = [r[0] for r in rows]
    server_of = {r[0]: int(r[1]) for r in rows}
    servers = {int(r[0]): {"port": r[1], "sock": r[2], "pid": int(r[3])}
               for r in read_tsv(a.servers_file)}
    hung_pid = servers[a.hung_server]["pid"]
    live = [t for t in targets if server_of[t] >= 0]
    on_hung = {t for t in live if server_of[t] == a.hung_server}
    per_server = collections.Counter(server_of[t] for t in live)
    n = len(targets)

    # Prometheus spreads a job's targets over the interval, each at a fixed offset; here
    # evenly, in an order fixed by a seed.
    order = list(targets)
    random.Random(1).shuffle(order)
    offsets = {t: i * a.interval / n for i, t in enumerate(order)}

    local = threading.local()

    def client():
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = Client(a.port, a.timeout)
        return c

    sampler_interval = []
    sampler_target = live[0]

    def probe(t, r, due):
        """(target, round, status, up, sent, answered, late)"""
        start = time.monotonic()
        try:
            status, body, t0, t1 = client().get("/probe?target=" + urllib.parse.quote(t))
        except (http.client.HTTPException, OSError):
            return t, r, None, None, start, time.monotonic(), start - due
        if t == sampler_target and status == 200:
            m = SAMPLER_RE.search(body)
            if m:
                sampler_interval.append(float(m.group(1)))
        return t, r, status, up_of(body), t0, t1, start - due

    metrics_client = Client(a.port, a.timeout)

    def scrape_metrics(r):
        status, body, t0, t1 = metrics_client.get("/metrics")
        return r, status, len(body), up_of(body, a.hung_target), t0, t1

    status_client = Client(a.port, a.timeout)
    status_paths = ["/"] + (["/?page=2"] if n > ROWS_PER_PAGE else [])

    def status_pages(r):
        out = []
        for path in status_paths:
            try:
                status, body, t0, t1 = status_client.get(path)
                out.append((path, r, status, len(body), t1 - t0))
            except (http.client.HTTPException, OSError):
                out.append((path, r, None, 0, None))
        return out

    sessions = {}           # server index -> the exporter's sessions on it
    connected_at_count = [0]

    def count_sessions(until):
        # Once every live target has connected (or at `until`, the freeze).
        while time.monotonic() < until and len(set(connects(a.log)) & set(live)) < len(live):
            time.sleep(0.2)
        connected_at_count[0] = len(set(connects(a.log)) & set(live))
        for s, srv in servers.items():
            sessions[s] = exporter_sessions(srv["sock"], a.exporter_user)

    # The schedule: (seconds from the start, order among equal times, kind, argument).
    events = []
    for r in range(a.rounds):
        base = r * a.interval
        if r == a.freeze_at:
            events.append((max(0.0, base - a.interval / 2), 0, "count", base))
            events.append((base, 0, "freeze", r))
        for t in targets:
            events.append((base + offsets[t], 2, "probe", (t, r)))
        if r % a.metrics_every == 0:
            events.append((base + a.interval * 0.4, 1, "metrics", r))
        events.append((base + a.interval * 0.6, 1, "status", r))
    events.sort(key=lambda e: (e[0], e[1]))

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(PROBE_THREADS, n))
    mpool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    spool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    probe_futs, metrics_futs, status_futs = [], [], []
    status_skipped = 0
    counter = None
    frozen_at = None
    cpu0 = cpu_ticks_ms(a.pid)
    cpu_at_start = cpu0
    started = time.monotonic()
    try:
        for at, _, kind, arg in events:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if kind == "probe":
                t, r = arg
                probe_futs.append(pool.submit(probe, t, r, started + at))
            elif kind == "metrics":
                metrics_futs.append(mpool.submit(scrape_metrics, arg))
            elif kind == "status":
                # One page load at a time: a slow page is measured, not piled up.
                if status_futs and not status_futs[-1].done():
                    status_skipped += 1
                else:
                    status_futs.append(spool.submit(status_pages, arg))
            elif kind == "count":
                counter = threading.Thread(target=count_sessions, args=(started + arg,))
                counter.start()
            elif kind == "freeze":
                if counter is not None:
                    counter.join()
                os.kill(hung_pid, signal.SIGSTOP)
                frozen_at = time.monotonic()
                print(f"round {arg + 1}: froze the server of {a.hung_target} "
                      f"({len(on_hung)} targets, SIGSTOP)", file=sys.stderr)
        probes = [f.result() for f in probe_futs]
        scrapes = []
        for f in metrics_futs:
            r, status, size, hung_up, t0, t1 = f.result()
            if status != 200:
                sys.exit(f"/metrics: HTTP {status}")
            scrapes.append((r, size, hung_up, t0, t1))
        pages = [x for f in status_futs for x in f.result()]
    finally:
        os.kill(hung_pid, signal.SIGCONT)
    ended = time.monotonic()
    cpu1 = cpu_ticks_ms(a.pid)

    rss = status_kib(a.pid, "VmRSS") / 1024.0
    hwm = status_kib(a.pid, "VmHWM") / 1024.0
    anon = status_kib(a.pid, "RssAnon") / 1024.0
    # Prometheus gives up at its scrape timeout; the exporter aims 0.5 s before it.
    deadline = a.timeout

    # /probe: the live targets (those of the frozen server only when answered before it
    # froze).
    def is_live(t, r, t1):
        if server_of[t] < 0:
            return False
        return t not in on_hung or (r < a.freeze_at and (frozen_at is None or t1 < frozen_at))

    metrics_spans = [(t0, t1) for _, _, _, t0, t1 in scrapes]

    def overlaps_metrics(t0, t1):
        return any(t0 < m1 and t1 > m0 for m0, m1 in metrics_spans)

    live_lat, frozen_lat, quiet_lat, busy_lat, bad_lat = [], [], [], [], []
    probe_errors, live_down, late = 0, 0, 0
    hung_down_in_probe, dead_down = [], []
    for t, r, status, up, t0, t1, lag in probes:
        dt = t1 - t0
        if status != 200:
            probe_errors += 1
        if lag > LATE_S:
            late += 1
        if is_live(t, r, t1):
            live_lat.append(dt)
            if r >= a.freeze_at:
                frozen_lat.append(dt)
            (busy_lat if overlaps_metrics(t0, t1) else quiet_lat).append(dt)
            if up != 1.0:
                live_down += 1
        else:
            bad_lat.append(dt)
        if t == a.hung_target and r > a.freeze_at:
            hung_down_in_probe.append(up == 0.0)
        if t == a.dead_target:
            dead_down.append(up == 0.0)

    metrics_lat = [t1 - t0 for _, _, _, t0, t1 in scrapes]
    metrics_bytes = [size for _, size, _, _, _ in scrapes]
    hung_down_in_metrics = [hung_up == 0.0 for r, _, hung_up, _, _ in scrapes if r > a.freeze_at]
    worst = max(metrics_lat)

    # Start-up, from the log: each target's first connect.
    seen = connects(a.log)
    first = {t: min(ts) for t, ts in seen.items() if t in server_of and server_of[t] >= 0}
    by_server = collections.defaultdict(list)
    for t, ts in first.items():
        by_server[server_of[t]].append(ts)
    burst = max((most_within(ts) for ts in by_server.values()), default=0)
    reconnected = sum(1 for t in live if len(seen.get(t, [])) > 1 and t not in on_hung)
    schedule = max(per_server.values()) / a.connect_rate

    # Log lines per target and problem (error and warn; the message with the target's own
    # name taken out, so equal problems of different targets compare equal).
    per_target = collections.Counter()
    per_problem = collections.Counter()
    with open(a.log) as f:
        for line in f:
            m = NAME_RE.search(line)
            if not m or not re.search(r"level=(error|warn)|\b(ERROR|WARN)\b", line):
                continue
            per_target[m.group(1)] += 1
            msg = re.sub(r"^\S+\s+", "", line.strip())  # the timestamp
            per_problem[(m.group(1), msg)] += 1
    repeated = {k: c for k, c in per_problem.items() if c > 1}

    missed = []

    def verdict(name, ok):
        if not ok:
            missed.append(name)
        return "PASS" if ok else "MISS"

    def row(label, value, target=""):
        print(f"{label:<44} {value:>14}  {target}".rstrip())

    def secs(v):
        return "-" if v is None else f"{v:.3f}"

    print(f"targets: {n} on {len(servers)} servers (1 dead: {a.dead_target}; {len(on_hung)} on a "
          f"server frozen from round {a.freeze_at + 1}, among them {a.hung_target}), "
          f"{a.rounds} rounds: each target's /probe every {a.interval:g}s, /metrics every "
          f"{a.metrics_every} round(s), scrape timeout {a.timeout:g}s")
    print()
    print(f"{'measure':<44} {'value':>14}  target")
    row("RSS after the rounds (MiB)", f"{rss:.1f}")
    row("  of which anonymous (heap, stacks) (MiB)", f"{anon:.1f}")
    row("  peak RSS, VmHWM (MiB)", f"{hwm:.1f}")
    row("RSS per target (MiB)", f"{rss / n:.2f}",
        f"<= {RSS_PER_TARGET_MIB:.2f} {verdict('RSS', rss / n <= RSS_PER_TARGET_MIB)}")
    row("peak RSS per target (MiB)", f"{hwm / n:.2f}")
    wall = ended - started
    row("exporter CPU over the rounds (% of a core)", f"{(cpu1 - cpu0) / 10.0 / wall:.1f}")
    row("exporter CPU before the first round (s)", f"{cpu_at_start / 1000.0:.2f}")
    exp_sampler = max(1.0, n / 100.0)
    row("sampler interval in force (s)",
        secs(sampler_interval[-1]) if sampler_interval else "-",
        f"(1 s, or targets / --sampler.max-rate 100: {exp_sampler:g})")

    # Start-up.
    ready = a.ready_at - a.started
    first_any = min(first.values(), default=None)
    row("start-up: connects a server in 1 s, most", str(burst),
        f"<= {a.connect_rate + 1:g} (limits.connects_per_server_per_second + 1) "
        f"{verdict('connect rate', 0 < burst <= a.connect_rate + 1)}")
    row("start-up: start to first connect (s)",
        secs(first_any - a.started if first_any is not None else None))
    ready_ok = first_any is not None and a.ready_at <= first_any + 1.0
    row("start-up: start to /-/ready 200 (s)", secs(ready),
        f"<= first connect + 1 (polled every 0.2 s) {verdict('ready', ready_ok)}")
    all_up = len(first) == len(live)
    row("start-up: start to all connected (s)",
        secs(max(first.values()) - a.started) if all_up else f"{len(first)}/{len(live)}",
        f"(schedule: {max(per_server.values())} targets a server / "
        f"{a.connect_rate:g} a second = {schedule:.1f} s)")
    row("targets connected again (not the frozen)", str(reconnected))

    # One server connection per target.
    wrong = {s: (sessions.get(s), per_server.get(s, 0)) for s in servers
             if sessions.get(s) != per_server.get(s, 0)}
    row("exporter sessions = targets, servers", f"{len(servers) - len(wrong)}/{len(servers)}",
        f"all, after {connected_at_count[0]}/{len(live)} targets connected "
        f"{verdict('sessions', bool(sessions) and not wrong)}")
    for s, (got, want) in sorted(wrong.items())[:10]:
        print(f"  server {s}: {'?' if got is None else got} sessions of "
              f"{a.exporter_user}, {want} targets")

    # /metrics and the status page.
    row("/metrics of all targets (KiB)", f"{statistics.median(metrics_bytes) / 1024:.0f}")
    row("/metrics latency median (s)", f"{statistics.median(metrics_lat):.3f}")
    row("/metrics latency worst (s)", f"{worst:.3f}",
        f"<= {deadline:g} (scrape timeout) {verdict('/metrics', worst <= deadline)}")
    for path in status_paths:
        got = [(st, size, dt) for pth, _, st, size, dt in pages if pth == path]
        ok = [dt for st, _, dt in got if st == 200]
        pworst = max(ok) if len(ok) == len(got) and ok else None
        kind = "a fleet table" if n > DETAILED_TARGETS or path != "/" else "each target in full"
        row(f"status page {path} size (KiB)",
            f"{statistics.median([size for _, size, _ in got]) / 1024:.0f}" if got else "-",
            f"({kind})")
        row(f"status page {path} latency worst (s)",
            secs(pworst) if pworst is not None else f"{len(ok)}/{len(got)} 200",
            f"<= {deadline:g} (scrape timeout) "
            f"{verdict(path, pworst is not None and pworst <= deadline)}")
    if n <= ROWS_PER_PAGE:
        row("status page /?page=2", "-", f"(one page: {n} targets)")
    if status_skipped:
        row("status page loads skipped (previous running)", str(status_skipped))

    # /probe.
    row("/probe latency, live targets, p50 (s)", secs(pct(live_lat, 0.5)))
    p99 = pct(live_lat, 0.99)
    row("/probe latency, live targets, p99 (s)", secs(p99),
        f"<= {PROBE_P99_S:g} {verdict('/probe p99', p99 is not None and p99 <= PROBE_P99_S)}")
    row("/probe latency, live targets, max (s)", secs(max(live_lat, default=None)))
    fp99 = pct(frozen_lat, 0.99)
    row("/probe p99 of the others, server frozen (s)", secs(fp99),
        f"<= {PROBE_P99_S:g} "
        f"{verdict('/probe p99 frozen', fp99 is not None and fp99 <= PROBE_P99_S)}")
    row("/probe p99, live, no /metrics in flight (s)", secs(pct(quiet_lat, 0.99)),
        f"({len(quiet_lat)} probes)")
    row("/probe p99, live, /metrics in flight (s)", secs(pct(busy_lat, 0.99)),
        f"({len(busy_lat)} probes)")
    bworst = max(bad_lat, default=None)
    row("/probe of hung and dead targets, worst (s)", secs(bworst),
        f"<= {deadline:g} (scrape timeout) "
        f"{verdict('/probe hung', bworst is not None and bworst <= deadline)}")
    row("/probe of live targets with mysql_up != 1", str(live_down))
    row("/probe answers other than 200", str(probe_errors))
    row(f"/probes sent > {LATE_S:g} s late (client busy)", str(late), f"(of {len(probes)})")

    hung_ok = bool(hung_down_in_metrics) and all(hung_down_in_metrics)
    print(f"{'hung target down in /metrics (rounds)':<44} "
          f"{sum(hung_down_in_metrics):>9}/{len(hung_down_in_metrics):<4}  all "
          f"{verdict('hung in /metrics', hung_ok)}")
    print(f"{'hung target down in /probe (rounds)':<44} "
          f"{sum(hung_down_in_probe):>9}/{len(hung_down_in_probe):<4}")
    print(f"{'dead target down (rounds)':<44} {sum(dead_down):>9}/{len(dead_down):<4}")
    worst_repeat = max(repeated.values(), default=1)
    row("log lines, targets with problems", str(len(per_target)))
    row("log lines per target and problem, most", str(worst_repeat),
        f"<= 1 {verdict('log lines', not repeated)}")
    listed = sorted(per_problem.items())
    for (t, msg), c in listed[:LISTED_PROBLEMS]:
        print(f"  {c} x {t}: {msg[:160]}")
    if len(listed) > LISTED_PROBLEMS:
        print(f"  ... and {len(listed) - LISTED_PROBLEMS} more (the log: {a.log})")
    if missed:
        print(f"\nmissed: {', '.join(missed)}")
    sys.exit(3 if missed else 0)


if __name__ == "__main__":
    main()
