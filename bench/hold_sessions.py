#!/usr/bin/python3
"""Holds N client sessions open on a MariaDB/MySQL server, for bench/compare.sh.

Reads target counts from stdin, one per line, and grows to each (it never shrinks):
  - a tenth of the sessions are idle in a transaction (START TRANSACTION; a SELECT on an
    InnoDB table; then nothing: COMMAND Sleep with a RUNNING row in INNODB_TRX),
  - a tenth run `SELECT SLEEP(...)` (sent without waiting for the answer),
  - the rest are idle (COMMAND Sleep, no transaction).
Prints "ready N" when the N sessions are open. Exits (closing everything) at end of input,
so it never outlives the script that drives it.

Uses the C client (python3-mysqldb, libmariadb): one socket per session, no threads.
"""

import argparse
import sys

import MySQLdb._mysql as mysql

SLEEP_SECONDS = 36000


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
    for line in sys.stdin:
        line = line.strip()
        if not line:
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
