#!/usr/bin/python3
"""The measuring half of bench/fleet.sh (which starts the servers and the exporter and passes
their ports and PIDs here). Not meant to be run by hand.

Scrapes as Prometheus would: every round, each target's /probe and the exporter's /metrics,
concurrently and spread over the round (one keep-alive connection per scrape job, the
X-Prometheus-Scrape-Timeout-Seconds header set). Partway through, one server is frozen
(SIGSTOP: a hung server that keeps its TCP connections). At the end it prints what the issue
asks of a fleet: RSS per target, /metrics latency against its deadline with the hung target
marked down, and the log lines per target and problem.
"""

import argparse
import collections
import concurrent.futures
import http.client
import os
import random
import re
import signal
import statistics
import sys
import time

ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
MIB = 1024.0 * 1024.0


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k == key:
                return int(rest.split()[0])
    return 0


class Job:
    """One scrape job: sequential GETs of one path over one keep-alive connection."""

    def __init__(self, port, path, timeout):
        self.port, self.path, self.timeout = port, path, timeout
        self.conn = None

    def get(self):
        headers = {"Accept": ACCEPT, "X-Prometheus-Scrape-Timeout-Seconds": str(self.timeout)}
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                           timeout=self.timeout + 30)
                t0 = time.perf_counter()
                self.conn.request("GET", self.path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                return resp.status, body, time.perf_counter() - t0
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 2:
                    raise


def up_of(body, target=None):
    """mysql_up of the body (of one target's series when `target` is given)."""
    text = body.decode("utf-8", "replace")
    if target is None:
        m = re.search(r"^mysql_up (\S+)$", text, re.M)
    else:
        m = re.search(r'^mysql_up\{target="%s"\} (\S+)$' % re.escape(target), text, re.M)
    return float(m.group(1)) if m else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--targets", required=True, help="comma-separated target names")
    p.add_argument("--hung-target", required=True)
    p.add_argument("--hung-pid", type=int, required=True)
    p.add_argument("--dead-target", required=True)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=4.0)
    p.add_argument("--freeze-at", type=int, default=3)
    a = p.parse_args()

    targets = a.targets.split(",")
    probes = {t: Job(a.port, f"/probe?target={t}", a.timeout) for t in targets}
    metrics = Job(a.port, "/metrics", a.timeout)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(targets) + 2)
    rng = random.Random(1)
    # Prometheus spreads its targets' scrapes over the interval, each at a fixed offset.
    offsets = {t: rng.uniform(0, a.interval * 0.8) for t in targets}
    metrics_offset = a.interval * 0.4

    metrics_lat, metrics_bytes, probe_lat = [], [], []
    hung_down_in_metrics, hung_down_in_probe, dead_down = [], [], []
    probe_errors = collections.Counter()
    rss_after = []
    started = time.monotonic()

    def probe(t, at):
        time.sleep(max(0.0, at - time.monotonic()))
        status, body, dt = probes[t].get()
        return t, status, body, dt

    def scrape_metrics(at):
        time.sleep(max(0.0, at - time.monotonic()))
        return metrics.get()

    for r in range(a.rounds):
        if r == a.freeze_at:
            os.kill(a.hung_pid, signal.SIGSTOP)
            print(f"round {r + 1}: froze the server of {a.hung_target} (SIGSTOP)", file=sys.stderr)
        base = started + r * a.interval
        futs = [pool.submit(probe, t, base + offsets[t]) for t in targets]
        mfut = pool.submit(scrape_metrics, base + metrics_offset)
        for f in futs:
            t, status, body, dt = f.result()
            if status != 200:
                probe_errors[status] += 1
            probe_lat.append(dt)
            up = up_of(body)
            if t == a.hung_target and r > a.freeze_at:
                hung_down_in_probe.append(up == 0.0)
            if t == a.dead_target:
                dead_down.append(up == 0.0)
        status, body, dt = mfut.result()
        if status != 200:
            sys.exit(f"/metrics: HTTP {status}")
        metrics_lat.append(dt)
        metrics_bytes.append(len(body))
        if r > a.freeze_at:
            hung_down_in_metrics.append(up_of(body, a.hung_target) == 0.0)
        rss_after.append(status_kib(a.pid, "VmRSS"))
        time.sleep(max(0.0, started + (r + 1) * a.interval - time.monotonic()))
    os.kill(a.hung_pid, signal.SIGCONT)

    n = len(targets)
    rss = rss_after[-1] / 1024.0
    hwm = status_kib(a.pid, "VmHWM") / 1024.0
    anon = status_kib(a.pid, "RssAnon") / 1024.0
    # Prometheus gives up at its scrape timeout; the exporter aims 0.5 s before it.
    deadline = a.timeout
    worst = max(metrics_lat)

    # Log lines per target and problem (error and warn; the message with the target's own
    # name taken out, so equal problems of different targets compare equal).
    per_target = collections.Counter()
    per_problem = collections.Counter()
    with open(a.log) as f:
        for line in f:
            m = re.search(r'target_name="?([^" ]+)"?', line)
            if not m or not re.search(r"level=(error|warn)|\b(ERROR|WARN)\b", line):
                continue
            per_target[m.group(1)] += 1
            msg = re.sub(r"^\S+\s+", "", line.strip())  # the timestamp
            per_problem[(m.group(1), msg)] += 1
    repeated = {k: c for k, c in per_problem.items() if c > 1}

    def verdict(ok):
        return "PASS" if ok else "MISS"

    print(f"targets: {n} (1 dead: {a.dead_target}; 1 on a server frozen from round "
          f"{a.freeze_at + 1}: {a.hung_target}), {a.rounds} rounds every {a.interval:g}s, "
          f"scrape timeout {a.timeout:g}s")
    print()
    print(f"{'measure':<44} {'value':>14}  target")
    print(f"{'RSS after the rounds (MiB)':<44} {rss:>14.1f}")
    print(f"{'  of which anonymous (heap, stacks) (MiB)':<44} {anon:>14.1f}")
    print(f"{'  peak RSS, VmHWM (MiB)':<44} {hwm:>14.1f}")
    print(f"{'RSS per target (MiB)':<44} {rss / n:>14.2f}  <= 1.00 {verdict(rss / n <= 1.0)}")
    print(f"{'peak RSS per target (MiB)':<44} {hwm / n:>14.2f}")
    print(f"{'/metrics of all targets (KiB)':<44} {statistics.median(metrics_bytes) / 1024:>14.0f}")
    print(f"{'/metrics latency median (s)':<44} {statistics.median(metrics_lat):>14.3f}")
    print(f"{'/metrics latency worst (s)':<44} {worst:>14.3f}  <= {deadline:g} (scrape timeout) "
          f"{verdict(worst <= deadline)}")
    print(f"{'/probe latency median (s)':<44} {statistics.median(probe_lat):>14.3f}")
    print(f"{'/probe latency worst (s)':<44} {max(probe_lat):>14.3f}")
    hung_ok = bool(hung_down_in_metrics) and all(hung_down_in_metrics)
    print(f"{'hung target down in /metrics (rounds)':<44} "
          f"{sum(hung_down_in_metrics):>9}/{len(hung_down_in_metrics):<4}  all {verdict(hung_ok)}")
    print(f"{'hung target down in /probe (rounds)':<44} "
          f"{sum(hung_down_in_probe):>9}/{len(hung_down_in_probe):<4}")
    print(f"{'dead target down (rounds)':<44} {sum(dead_down):>9}/{len(dead_down):<4}")
    print(f"{'/probe answers other than 200':<44} {sum(probe_errors.values()):>14}")
    worst_repeat = max(repeated.values(), default=1)
    print(f"{'log lines, targets with problems':<44} {len(per_target):>14}")
    print(f"{'log lines per target and problem, most':<44} {worst_repeat:>14}  <= 1 "
          f"{verdict(not repeated)}")
    for (t, msg), c in sorted(per_problem.items()):
        print(f"  {c} x {t}: {msg[:160]}")
    missed = not (rss / n <= 1.0 and worst <= deadline and hung_ok and not repeated)
    sys.exit(0 if not missed else 3)


if __name__ == "__main__":
    main()
