#!/usr/bin/python3
"""The measuring half of bench/sampler.sh (which starts the server, the session holder and
the exporter, and passes their PIDs here). Not meant to be run by hand.

  measure  — CPU per second of the server (and of the exporter, if given) over --seconds,
             nobody scraping; appends one JSON record to --results. A phase may be
             measured in several pieces (sampler.sh runs a b c b a, so that a drift of the
             server's idle CPU falls on every phase alike): report adds them up.
  report   — the table of one N: server CPU per phase, the sampler's cost = (c) - (b),
             the exporter's CPU and RSS, and the sampler's own metrics from /metrics; with
             lock waits measured (phases b-locks = (b') and c-locks = (c'): K sessions
             waiting on a row lock, sampler.sh runs b' c' b'), the same rows for them and
             the sampler's cost with lock waits = (c') - (b').
  summary  — one row per N, the columns of docs/benchmarks.md (the lock waits' last).

CPU is summed over the process's threads from /proc/PID/task/*/schedstat (ns resolution).
A thread that ends takes with it what it ran since the previous reading (readings every
5 s or so); such phases are flagged, with the process's utime + stime from /proc/PID/stat
beside them (clock ticks, 10 ms: dead threads included, but coarse). "±" is the standard
error of the mean over the 5 s blocks between readings.
"""

import argparse
import json
import math
import re
import statistics
import sys
import time

from procfs import CLK_TCK, cpu_ticks_ms, rss_mib, stat_fields, thread_runtimes

BLOCK_SECONDS = 5.0

PHASES = {
    "a": "(a) no exporter",
    "b": "(b) exporter, --no-collect.sampler",
    "b-nosampler": "(b) exporter (this binary has no sampler)",
    "c": "(c) exporter, sampler on (its defaults)",
    "b-locks": "(b') as (b), with the lock waits",
    "c-locks": "(c') as (c), with the lock waits",
}
WHO = {"db": "the server", "exp": "the exporter"}


# -------------------------------------------------------------------- /proc
def snapshot(pid):
    return time.monotonic(), cpu_ticks_ms(pid), thread_runtimes(pid)


def uptime_s(pid):
    with open("/proc/uptime") as f:
        now = float(f.read().split()[0])
    return now - int(stat_fields(pid)[19]) / CLK_TCK


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


# -------------------------------------------------------------------- measure
def measure(a):
    pids = {"db": a.db_pid}
    if a.exporter_pid:
        pids["exp"] = a.exporter_pid
    if comm(a.db_pid) not in ("mariadbd", "mysqld"):
        raise SystemExit(f"--db-pid {a.db_pid} is {comm(a.db_pid)!r}, not the server")
    blocks = max(1, round(a.seconds / BLOCK_SECONDS))
    step = a.seconds / blocks
    rec = {"n": a.n, "phase": a.phase}
    if a.lock_waits is not None:
        rec["lock_waits"] = a.lock_waits
    for k in pids:
        rec.update({f"{k}_ms": 0.0, f"{k}_blocks": [], f"{k}_ended": 0})
    first = prev = {k: snapshot(p) for k, p in pids.items()}
    start = time.monotonic()
    for i in range(blocks):
        time.sleep(max(0.0, start + (i + 1) * step - time.monotonic()))
        now = {k: snapshot(p) for k, p in pids.items()}
        for k in pids:
            (t0, _, th0), (t1, _, th1) = prev[k], now[k]
            ms = sum(ns - th0.get(tid, 0) for tid, ns in th1.items()) / 1e6
            rec[f"{k}_ms"] += ms
            rec[f"{k}_blocks"].append(ms / (t1 - t0))
            rec[f"{k}_ended"] += len(set(th0) - set(th1))
        prev = now
    rec["elapsed"] = prev["db"][0] - first["db"][0]
    for k in pids:
        rec[f"{k}_ticks_ms"] = prev[k][1] - first[k][1]
    if a.exporter_pid:
        rec["rss"], rec["rss_anon"] = rss_mib(a.exporter_pid)
        rec["exp_uptime"] = uptime_s(a.exporter_pid)
    with open(a.results, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"==> N={a.n} {PHASES[a.phase]}, {rec['elapsed']:.0f} s: server "
          f"{rec['db_ms'] / rec['elapsed']:.2f} ms/s"
          + (f", exporter {rec['exp_ms'] / rec['elapsed']:.2f} ms/s" if a.exporter_pid else "")
          + f" (server per block: {' '.join(f'{x:.2f}' for x in rec['db_blocks'])})",
          file=sys.stderr, flush=True)


# -------------------------------------------------------------------- report
def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Phase:
    """The pieces of one phase at one N, added up."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.elapsed = sum(p["elapsed"] for p in pieces)
        self.has_exp = "exp_ms" in pieces[0]
        last = pieces[-1]
        self.rss, self.rss_anon, self.uptime = last.get("rss"), last.get("rss_anon"), last.get("exp_uptime")

    def rate(self, k):
        return sum(p[f"{k}_ms"] for p in self.pieces) / self.elapsed

    def se(self, k):
        rs = [x for p in self.pieces for x in p[f"{k}_blocks"]]
        return statistics.stdev(rs) / math.sqrt(len(rs)) if len(rs) > 1 else None

    def ended(self, k):
        return sum(p[f"{k}_ended"] for p in self.pieces)

    def ticks_rate(self, k):
        return sum(p[f"{k}_ticks_ms"] for p in self.pieces) / self.elapsed


def phases_of(records, n):
    by = {}
    for r in records:
        if r["n"] == n and r["phase"] in PHASES:
            by.setdefault(r["phase"], []).append(r)
    return {k: Phase(v) for k, v in by.items()}


def sample_of(records, n, key, phase="sample"):
    """sample_ms or interval of N, from /metrics at the end of (c) (phase "sample") or of
    (c') ("sample-locks"), or None."""
    for r in records:
        if r["n"] == n and r["phase"] == phase:
            return r.get(key)
    return None


def lock_waits_of(ph):
    """K, the sessions waiting on the lock in (b') and (c'), or None."""
    for name in ("c-locks", "b-locks"):
        if name in ph:
            return ph[name].pieces[0].get("lock_waits")
    return None


def pm(v, se):
    return f"{v:7.2f}" + (f" ±{se:4.2f}" if se is not None else "      ")


def cost(c, b):
    """(ms/s, standard error) of the server's CPU in c minus that in b."""
    v = c.rate("db") - b.rate("db")
    se_c, se_b = c.se("db"), b.se("db")
    return v, (math.hypot(se_c, se_b) if se_c is not None and se_b is not None else None)


SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def sample_duration_ms(lines):
    """Mean duration of one sample from mysql_exporter_sampler_duration_seconds: sum/count
    of a histogram or summary, else the value of a gauge (summed over targets: one here)."""
    vals = {}
    for line in lines:
        m = SAMPLE.match(line)
        if m and m.group(1).startswith("mysql_exporter_sampler_duration_seconds"):
            try:
                vals[m.group(1)] = vals.get(m.group(1), 0.0) + float(m.group(3))
            except ValueError:
                pass
    base = "mysql_exporter_sampler_duration_seconds"
    if vals.get(base + "_count"):
        return 1000.0 * vals.get(base + "_sum", 0.0) / vals[base + "_count"], "mean of _sum/_count"
    if base in vals:
        return 1000.0 * vals[base], "its value"
    return None, None


def metric_value(lines, name):
    """The value of the first sample of `name` (any labels), or None."""
    for line in lines:
        m = SAMPLE.match(line)
        if m and m.group(1) == name:
            try:
                return float(m.group(3))
            except ValueError:
                return None
    return None


def report(a):
    records = load(a.results)
    ph = phases_of(records, a.n)
    counts = [int(x) for x in a.counts.split(",")]
    print()
    print(f"N = {a.n:,} held sessions ({counts[1]:,} idle in transaction, {counts[2]:,} running "
          f"SLEEP, {a.n - counts[1] - counts[2]:,} idle; checked in the processlist)")
    w = 42
    print(f"  {'phase (nobody scrapes)':<{w}} {'seconds':>7} {'server CPU ms/s':>15} "
          f"{'exporter CPU ms/s':>17} {'exporter RSS MiB':>17}")
    for name in ("a", "b", "b-nosampler", "c"):
        p = ph.get(name)
        if not p:
            continue
        exp = pm(p.rate("exp"), p.se("exp")) if p.has_exp else ""
        rss = f"{p.rss:.1f} (anon {p.rss_anon:.1f})" if p.rss is not None else ""
        print(f"  {PHASES[name]:<{w}} {p.elapsed:7.0f} {pm(p.rate('db'), p.se('db')):>15} "
              f"{exp:>17} {rss:>17}")
    b = ph.get("b") or ph.get("b-nosampler")
    if ph.get("a") and b:
        v, se = cost(b, ph["a"])
        print(f"  {'an idle exporter, (b) - (a)':<{w}} {'':7} {v:+7.2f}"
              + (f" ±{se:4.2f}" if se is not None else ""))
    c = ph.get("c")
    if c and ph.get("b"):
        v, se = cost(c, ph["b"])
        print(f"  {'the sampler, (c) - (b)':<{w}} {'':7} {v:+7.2f}"
              + (f" ±{se:4.2f}" if se is not None else "")
              + f" ms/s of server CPU = {v / 10:+.3f} % of one core")
        print(f"  {'the sampler in the exporter, (c) - (b)':<{w}} {'':7} {'':15} "
              f"{c.rate('exp') - ph['b'].rate('exp'):+7.2f}")
        print(f"  (RSS read {c.uptime:.0f} s after that exporter started)")
    report_locks(a, ph, w)
    for name, p in ph.items():
        for k in ("db", "exp") if p.has_exp else ("db",):
            if p.ended(k):
                print(f"  note: {PHASES[name]}: {p.ended(k)} thread(s) of {WHO[k]} ended (what "
                      f"a thread ran after the reading before its end is missing); from clock "
                      f"ticks, dead threads included: {p.ticks_rate(k):.2f} ms/s")
    if a.metrics:
        with open(a.metrics) as f:
            lines = [line for line in f.read().splitlines() if "sampler" in line.lower()]
        if not lines:
            print("  /metrics at the end of (c): no line mentions the sampler")
        else:
            print("  /metrics at the end of (c), lines with 'sampler':")
            for line in lines[:40]:
                print(f"    {line}")
            if len(lines) > 40:
                print(f"    ... ({len(lines) - 40} more)")
            report_sample(a, lines, "sample", "one sample takes",
                          "the sampler's interval at the end: {} s "
                          "(mysql_exporter_sampler_interval_seconds)")
    if a.metrics_locks:
        with open(a.metrics_locks) as f:
            all_lines = f.read().splitlines()
        lines = [line for line in all_lines if "sampler" in line.lower()]
        names = ("mysql_lock_waiting_sessions", "mysql_lock_root_blocker_waiters")
        locks = [line for line in all_lines if line.startswith(names)]
        print("  /metrics at the end of (c'), with the lock waits:")
        for line in locks[:10] or [f"(no line of {' or '.join(names)})"]:
            print(f"    {line}")
        report_sample(a, lines, "sample-locks", "one sample with the lock waits takes",
                      "the sampler's interval at the end of (c'): {} s")
    sys.stdout.flush()


def report_sample(a, lines, phase, takes, interval_line):
    """One sample's duration and the interval in force, from the sampler's lines of /metrics
    at the end of a phase: printed, and kept in the results for the summary as `phase`."""
    ms, how = sample_duration_ms(lines)
    interval = metric_value(lines, "mysql_exporter_sampler_interval_seconds")
    if ms is not None:
        print(f"  {takes} {ms:.2f} ms (mysql_exporter_sampler_duration_seconds, {how})")
    if interval is not None:
        print("  " + interval_line.format(f"{interval:g}"))
    with open(a.results, "a") as f:
        f.write(json.dumps({"n": a.n, "phase": phase, "sample_ms": ms,
                            "interval": interval}) + "\n")


def report_locks(a, ph, w):
    """The rows of (b') and (c') and the sampler's cost with the lock waits, beside its
    cost without."""
    bl, cl = ph.get("b-locks"), ph.get("c-locks")
    if not (bl or cl):
        return
    print(f"  with lock waits: {lock_waits_of(ph) or '?'} more sessions waiting (LOCK WAIT, checked in "
          f"INNODB_TRX) for a row lock\n  that one more session holds, beside the {a.n:,} above")
    for name in ("b-locks", "c-locks"):
        p = ph.get(name)
        if not p:
            continue
        exp = pm(p.rate("exp"), p.se("exp")) if p.has_exp else ""
        rss = f"{p.rss:.1f} (anon {p.rss_anon:.1f})" if p.rss is not None else ""
        print(f"  {PHASES[name]:<{w}} {p.elapsed:7.0f} {pm(p.rate('db'), p.se('db')):>15} "
              f"{exp:>17} {rss:>17}")
    if bl and cl:
        v, se = cost(cl, bl)
        without = ""
        if ph.get("c") and ph.get("b"):
            v0, se0 = cost(ph["c"], ph["b"])
            without = (f" (without lock waits, (c) - (b): {v0:+.2f}"
                       + (f" ±{se0:.2f}" if se0 is not None else "") + ")")
        label = "the sampler with lock waits, (c') - (b')"
        print(f"  {label:<{w}} {'':7} {v:+7.2f}"
              + (f" ±{se:4.2f}" if se is not None else "")
              + f" ms/s of server CPU = {v / 10:+.3f} % of one core" + without)
        label = "the sampler in the exporter, (c') - (b')"
        print(f"  {label:<{w}} {'':7} {'':15} "
              f"{cl.rate('exp') - bl.rate('exp'):+7.2f}")
        print(f"  (RSS read {cl.uptime:.0f} s after that exporter started)")


def summary(a):
    records = load(a.results)
    print()
    print(f"summary: server CPU in ms per second with nobody scraping (± standard error over "
          f"{BLOCK_SECONDS:.0f} s blocks)")
    ns = sorted({r["n"] for r in records})
    locked = any(r["phase"] in ("b-locks", "c-locks") for r in records)
    lock_head = ""
    if locked:
        print("  after '|', with 'waits' more sessions waiting for a row lock: the server's CPU with "
              "(b') the sampler off\n  and (c') on, the sampler's cost (c') - (b') and % of one core, "
              "one sample's ms at the end of (c')")
        off, on = "off (b')", "on (c')"
        lock_head = (f" | {'waits':>5} {off:>8} {on:>8} {'cost w/ waits ms/s':>18} "
                     f"{'% core':>7} {'sample ms':>9}")
    print(f"  {'server':<8} {'N':>6} {'no exporter':>11} {'sampler off':>11} {'sampler on':>11} "
          f"{'sampler cost ms/s':>17} {'% core':>7} {'exporter ms/s':>13} {'RSS MiB':>8} "
          f"{'sample ms':>9} {'interval s':>10}" + lock_head)
    for n in ns:
        ph = phases_of(records, n)
        a_, c = ph.get("a"), ph.get("c")
        b = ph.get("b") or ph.get("b-nosampler")
        cell = lambda p: f"{p.rate('db'):.2f}" if p else "-"  # noqa: E731
        cst = pct = exp = rss = "-"
        if c and ph.get("b"):
            v, se = cost(c, ph["b"])
            cst = f"{v:+.2f}" + (f" ±{se:.2f}" if se is not None else "")
            pct = f"{v / 10:.3f}"
        if c:
            exp, rss = f"{c.rate('exp'):.2f}", f"{c.rss:.1f}"
        sample, interval = sample_of(records, n, "sample_ms"), sample_of(records, n, "interval")
        sample = f"{sample:.2f}" if sample is not None else "-"
        interval = f"{interval:g}" if interval is not None else "-"
        lock_cells = ""
        if locked:
            bl, cl = ph.get("b-locks"), ph.get("c-locks")
            k = lock_waits_of(ph)
            lcst = lpct = "-"
            if bl and cl:
                v, se = cost(cl, bl)
                lcst = f"{v:+.2f}" + (f" ±{se:.2f}" if se is not None else "")
                lpct = f"{v / 10:.3f}"
            lsample = sample_of(records, n, "sample_ms", "sample-locks")
            lsample = f"{lsample:.2f}" if lsample is not None else "-"
            k = str(k) if k is not None else "-"
            lock_cells = (f" | {k:>5} {cell(bl):>8} {cell(cl):>8} {lcst:>18} {lpct:>7} "
                          f"{lsample:>9}")
        print(f"  {a.server:<8} {n:>6,} {cell(a_):>11} {cell(b):>11} {cell(c):>11} "
              f"{cst:>17} {pct:>7} {exp:>13} {rss:>8} {sample:>9} {interval:>10}" + lock_cells)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--n", type=int, required=True)
    m.add_argument("--phase", choices=sorted(PHASES), required=True)
    m.add_argument("--seconds", type=float, required=True)
    m.add_argument("--db-pid", type=int, required=True)
    m.add_argument("--exporter-pid", type=int)
    m.add_argument("--lock-waits", type=int,
                   help="K sessions waiting on a row lock (phases b-locks, c-locks)")
    m.add_argument("--results", required=True)
    r = sub.add_parser("report")
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--counts", required=True, help="sessions,idle in transaction,SLEEP")
    r.add_argument("--results", required=True)
    r.add_argument("--metrics")
    r.add_argument("--metrics-locks", help="/metrics at the end of (c')")
    s = sub.add_parser("summary")
    s.add_argument("--results", required=True)
    s.add_argument("--server", required=True)
    a = p.parse_args()
    {"measure": measure, "report": report, "summary": summary}[a.cmd](a)


if __name__ == "__main__":
    main()
