#!/usr/bin/python3
"""Holds N client sessions open on a MariaDB/MySQL server, for bench/compare.sh,
bench/sampler.sh and bench/soak.sh.

Reads target counts from stdin, one per line, and grows to each (it never shrinks):
  - a tenth of the sessions are idle in a transaction (START TRANSACTION; a SELECT on an
    InnoDB table; then nothing: COMMAND Sleep with a RUNNING row in INNODB_TRX),
  - a tenth run `SELECT SLEEP(...)` (sent without waiting for the answer),
  - the rest are idle (COMMAND Sleep, no transaction).
Prints "ready N" when the N sessions are open. Exits (closing everything) at end of input,
so it never outlives the script that drives it.

Two more commands, for bench/sampler.sh (row lock waits), beside the held sessions:
  - "locks K": one blocker session (START TRANSACTION; SELECT ... WHERE id = 1 FOR UPDATE;
    then nothing: idle in a transaction) and K waiter sessions, each sending (without waiting
    for the answer) an UPDATE of that row: K transactions in LOCK WAIT. Prints "ready locks K".
  - "unlock": the blocker rolls back, each waiter's UPDATE runs and its session is closed,
    then the blocker's. Prints "ready unlock".

Uses the C client (python3-mysqldb, libmariadb): one socket per session, no threads.
"""

import argparse
import sys

import MySQLdb._mysql as mysql

SLEEP_SECONDS = 36000
LOCK_WAIT_SECONDS = 36000  # the waiters' innodb_lock_wait_timeout


def connect(args):
    return mysql.connect(host=args.host, port=args.port, user=args.user,
                         passwd=args.password, db=args.db, connect_timeout=30)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--table", default="t")
    args = p.parse_args()

    held = {"idle": [], "trx": [], "sleep": []}
    locks = None  # (blocker, [waiters]) between "locks K" and "unlock"
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if line.startswith("locks "):
            if locks:
                raise SystemExit("locks: the lock waits are already held (send unlock first)")
            k = int(line.split()[1])
            blocker = connect(args)
            blocker.query("START TRANSACTION")
            blocker.query(f"SELECT id FROM {args.table} WHERE id = 1 FOR UPDATE")
            blocker.store_result()
            waiters = []
            for _ in range(k):
                c = connect(args)
                # Autocommit whatever the client's default: each UPDATE, once it has the
                # lock, commits at once and hands the lock to the next waiter.
                c.autocommit(True)
                c.query(f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_SECONDS}")
                c.send_query(f"UPDATE {args.table} SET v = 'waited' WHERE id = 1")
                waiters.append(c)
            locks = (blocker, waiters)
            print(f"ready locks {k}", flush=True)
            continue
        if line == "unlock":
            if locks:
                blocker, waiters = locks
                blocker.query("ROLLBACK")
                # A waiter's session does not end while it waits (the server does not
                # watch its socket then): each UPDATE is let through and answered first.
                for c in waiters:
                    c.read_query_result()
                    c.close()
                blocker.close()
                locks = None
            print("ready unlock", flush=True)
            continue
        n = int(line)
        want = {"sleep": n // 10, "trx": n // 10}
        want["idle"] = n - want["sleep"] - want["trx"]
        for kind in ("idle", "trx", "sleep"):
            while len(held[kind]) < want[kind]:
                c = connect(args)
                if kind == "idle":
                    c.query("SELECT 1")
                    c.store_result()
                elif kind == "trx":
                    c.query("START TRANSACTION")
                    c.query(f"SELECT id, v FROM {args.table} WHERE id = 1")
                    c.store_result()
                else:
                    c.send_query(f"SELECT SLEEP({SLEEP_SECONDS})")
                held[kind].append(c)
        print(f"ready {sum(len(v) for v in held.values())}", flush=True)
    # End of input: the sockets close with the process; the server ends the sessions
    # (the sleeping ones when the server is stopped).


if __name__ == "__main__":
    main()
