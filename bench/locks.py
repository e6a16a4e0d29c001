#!/usr/bin/python3
"""What reading the lock tables costs the server, for bench/locks.sh.

Holds N sessions (bench/hold_sessions.py: a tenth idle in a transaction, a tenth running),
then measures the exporter's scrapes twice: with nobody waiting for a lock, and with W
sessions in one metadata-lock queue (an idle transaction that read table `app.q`, an ALTER
TABLE on it, W - 1 queries queued behind the ALTER). Per phase: the server's CPU per scrape
(/proc/PID/stat of mysqld, minus what it spends idle over the same time), the scrape's
median latency, and what the exporter says of the chain. Prints one table.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import MySQLdb._mysql as mysql

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def scrape(url):
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as r:
        body = r.read().decode()
    return (time.monotonic() - started) * 1000, body


def measure(args, what):
    """Server CPU (ms) per scrape above its idle rate, median latency (ms), last body."""
    for _ in range(3):
        scrape(args.url)
    # The server's own background work over the same time, without scrapes.
    idle0, t0 = cpu_ms(args.db_pid), time.monotonic()
    time.sleep(args.idle_seconds)
    idle_rate = (cpu_ms(args.db_pid) - idle0) / (time.monotonic() - t0)
    lat = []
    c0, t0 = cpu_ms(args.db_pid), time.monotonic()
    body = ""
    for _ in range(args.scrapes):
        ms, body = scrape(args.url)
        lat.append(ms)
    elapsed = time.monotonic() - t0
    cpu = (cpu_ms(args.db_pid) - c0 - idle_rate * elapsed) / args.scrapes
    return max(cpu, 0.0), statistics.median(lat), body


def statements_of_one_scrape(args, root):
    """The statements ours sends in one scrape, from the server's general log (as a table)."""
    root.query("TRUNCATE TABLE mysql.general_log")
    root.query("SET GLOBAL log_output = 'TABLE'")
    root.query("SET GLOBAL general_log = ON")
    scrape(args.url)
    root.query("SET GLOBAL general_log = OFF")
    root.query("SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "
               "WHERE user_host LIKE 'pool_exporter%' AND command_type = 'Query'")
    rows = root.store_result().fetch_row(maxrows=0)
    return [r[0].decode() if isinstance(r[0], bytes) else r[0] for r in rows]


def split(args, root, rounds=10):
    """Server CPU (ms) of each statement of one scrape, run `rounds` times by root."""
    out = []
    for sql in statements_of_one_scrape(args, root):
        if sql.upper().startswith(("SET ", "SHOW WARNINGS")):
            continue
        c0 = cpu_ms(args.db_pid)
        for _ in range(rounds):
            root.query(sql)
            if root.field_count():
                root.store_result()
        out.append(((cpu_ms(args.db_pid) - c0) / rounds, sql))
    out.sort(reverse=True)
    return out


def metric(body, name, labels):
    for line in body.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels):
            return float(line.rsplit(" ", 1)[1])
    return None


def connect(args):
    return mysql.connect(host="127.0.0.1", port=args.db_port, user=args.app_user,
                         passwd=args.app_password, db=args.app_db, connect_timeout=30)


def queue(args, waiting):
    """One metadata-lock queue of `waiting` sessions; returns the connections (keep them)."""
    holder = connect(args)
    holder.query("START TRANSACTION")
    holder.query("SELECT id FROM q WHERE id = 1")
    holder.store_result()
    conns = [holder]
    root = mysql.connect(unix_socket=args.db_sock, user="root")

    def queued():
        root.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                   "WHERE STATE = 'Waiting for table metadata lock'")
        return int(root.store_result().fetch_row()[0][0])

    def wait_for(n):
        for _ in range(600):
            if queued() >= n:
                return
            time.sleep(0.1)
        sys.exit(f"only {queued()} of {n} sessions queued")

    alter = connect(args)
    alter.query("SET SESSION lock_wait_timeout = 3600")
    alter.send_query("ALTER TABLE q ADD COLUMN w INT")
    conns.append(alter)
    # Queries sent before the ALTER asks for its exclusive lock would get in and finish.
    wait_for(1)
    for _ in range(waiting - 1):
        c = connect(args)
        c.query("SET SESSION lock_wait_timeout = 3600")
        c.send_query("SELECT id FROM q WHERE id = 1")
        conns.append(c)
    wait_for(waiting)
    return conns


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sessions", type=int, required=True)
    p.add_argument("--waiting", type=int, required=True)
    p.add_argument("--scrapes", type=int, default=30)
    p.add_argument("--idle-seconds", type=float, default=5)
    p.add_argument("--url", required=True)
    p.add_argument("--db-pid", type=int, required=True)
    p.add_argument("--db-port", type=int, required=True)
    p.add_argument("--db-sock", required=True)
    p.add_argument("--app-user", required=True)
    p.add_argument("--app-password", required=True)
    p.add_argument("--app-db", required=True)
    p.add_argument("--label", required=True)
    args = p.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    holder = subprocess.Popen(
        [sys.executable, os.path.join(here, "hold_sessions.py"), "--port", str(args.db_port),
         "--user", args.app_user, "--password", args.app_password, "--db", args.app_db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write(f"{args.sessions}\n")
    holder.stdin.flush()
    line = holder.stdout.readline().strip()
    if line != f"ready {args.sessions}":
        sys.exit(f"hold_sessions.py: {line!r}")

    rows = []
    cpu, lat, body = measure(args, "none waiting")
    rows.append(("none waiting", cpu, lat, metric(body, "mysql_lock_waiting_sessions",
                                                   [("lock", "metadata")])))
    keep = queue(args, args.waiting)
    cpu, lat, body = measure(args, f"{args.waiting} waiting")
    rows.append(("a metadata-lock queue", cpu, lat,
                 metric(body, "mysql_lock_waiting_sessions", [("lock", "metadata")])))
    print(f"{args.label}: {args.sessions} held sessions, {args.scrapes} scrapes a phase")
    print(f"  {'phase':<26} {'server CPU/scrape':>18} {'latency p50':>12} {'waiting seen':>13}")
    for what, cpu, lat, seen in rows:
        seen = "-" if seen is None else f"{seen:.0f}"
        print(f"  {what:<26} {cpu:>15.1f} ms {lat:>9.1f} ms {seen:>13}")
    print(f"  the lock tables' cost: {rows[1][1] - rows[0][1]:+.1f} ms server CPU per scrape "
          f"while {rows[1][3] or 0:.0f} sessions wait")
    root = mysql.connect(unix_socket=args.db_sock, user="root")
    print("  the statements of one scrape while the queue waits, server CPU each (10 runs):")
    for ms, sql in split(args, root)[:6]:
        print(f"    {ms:6.1f} ms  {' '.join(sql.split())[:110]}")
    del keep
    holder.stdin.close()
    holder.wait()


if __name__ == "__main__":
    main()
