"""Real application clients for the integration tests: one process holding N sessions.

    app_sessions.py --port P --user U --password-env VAR --db D --program-name NAME
                    --count N [--driver pymysql|sqlalchemy] [--state STATE]
                    [--pool-size S --max-overflow O --exhaust] [--checkin K]

`pymysql` opens N PyMySQL connections; `sqlalchemy` checks N connections out of a
QueuePool (pool_size N unless --pool-size/--max-overflow say otherwise) through PyMySQL.
Both send the connect attributes PyMySQL always sends (`_pid`, `_client_name`, ...) plus
`program_name`. What each session then does (--state):
  idle         ran `SELECT 1`;
  trx          reads a row inside an open transaction, then nothing (the leak shape);
  lock-holder  updates row 1 of `visitors` inside an open transaction, then nothing;
  lock-waiter  tries to update row 1 too (and waits, innodb_lock_wait_timeout 300 s);
  busy         runs `SELECT SLEEP(0.3)` in a loop, like a pool serving short requests;
  do           runs --sql, then nothing (e.g. takes a user lock and keeps it);
  wait         runs --sql in a thread of its own (it may wait for a lock: lock_wait_timeout
               and innodb_lock_wait_timeout are 300 s).
--exhaust (sqlalchemy) then asks the pool for one more connection and reports its
`QueuePool limit ... reached` error; --checkin K returns K of the N connections to the pool
(SQLAlchemy rolls them back: idle, parked in the pool, still open).
Prints `ready <pid> <connection ids, comma-separated> [<the QueuePool error>]` once every
session is in place, then holds them until its stdin closes, so it never outlives the test
that started it.
"""

import argparse
import os
import sys
import threading
import time


def pymysql_connect(args, password):
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=args.port, user=args.user,
                           password=password, database=args.db,
                           program_name=args.program_name, autocommit=False)


def open_sessions(args, password):
    """(the pool or None, the connections)"""
    if args.driver == "pymysql":
        return None, [pymysql_connect(args, password) for _ in range(args.count)]
    import sqlalchemy

    size = args.pool_size if args.pool_size is not None else args.count
    engine = sqlalchemy.create_engine(
        f"mysql+pymysql://{args.user}@127.0.0.1:{args.port}/{args.db}",
        connect_args={"password": password, "program_name": args.program_name},
        pool_size=size, max_overflow=args.max_overflow, pool_timeout=1)
    # Raw DBAPI connections checked out of the QueuePool: what a request holds.
    return engine, [engine.raw_connection() for _ in range(args.count)]


def run(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    rows = cur.fetchall()
    cur.close()
    return rows


def run_quietly(conn, sql):
    """A statement that may be killed or time out while the test looks elsewhere."""
    try:
        run(conn, sql)
    except Exception:  # noqa: BLE001 - the test judges the server, not this client
        pass


def busy_loop(conn, stop):
    while not stop.is_set():
        run(conn, "SELECT SLEEP(0.3)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-env", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--program-name", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--driver", choices=["pymysql", "sqlalchemy"], default="pymysql")
    p.add_argument("--state", default="idle",
                   choices=["idle", "trx", "lock-holder", "lock-waiter", "busy", "do", "wait"])
    p.add_argument("--sql", help="the statement of --state do/wait")
    p.add_argument("--pool-size", type=int)
    p.add_argument("--max-overflow", type=int, default=0)
    p.add_argument("--exhaust", action="store_true")
    p.add_argument("--checkin", type=int, default=0)
    args = p.parse_args()
    password = os.environ[args.password_env]
    engine, conns = open_sessions(args, password)
    ids = [run(c, "SELECT CONNECTION_ID()")[0][0] for c in conns]
    keep = len(conns) - args.checkin
    # Back into SQLAlchemy's pool (rolled back): idle, parked, still open on the server.
    for c in conns[keep:]:
        c.close()
    conns, ids = conns[:keep], ids[:keep]
    stop = threading.Event()
    threads = []
    for c in conns:
        if args.state == "trx":
            run(c, "START TRANSACTION")
            run(c, "SELECT name FROM visitors WHERE id = 2")
        elif args.state == "lock-holder":
            run(c, "START TRANSACTION")
            run(c, "UPDATE visitors SET name = 'held' WHERE id = 1")
        elif args.state == "lock-waiter":
            run(c, "SET SESSION innodb_lock_wait_timeout = 300")
            t = threading.Thread(target=run, args=(c, "UPDATE visitors SET name = 'waited' WHERE id = 1"),
                                 daemon=True)
            t.start()
            threads.append(t)
        elif args.state == "do":
            run(c, args.sql)
        elif args.state == "wait":
            run(c, "SET SESSION lock_wait_timeout = 300")
            run(c, "SET SESSION innodb_lock_wait_timeout = 300")
            t = threading.Thread(target=run_quietly, args=(c, args.sql), daemon=True)
            t.start()
            threads.append(t)
        elif args.state == "busy":
            t = threading.Thread(target=busy_loop, args=(c, stop), daemon=True)
            t.start()
            threads.append(t)
        else:
            run(c, "SELECT 1")
    error = ""
    if args.exhaust and engine is not None:
        try:
            engine.raw_connection()
        except Exception as e:  # noqa: BLE001 - the error text is the point
            error = str(e).splitlines()[0]
    print(f"ready {os.getpid()} {','.join(str(i) for i in ids)} {error}".rstrip(), flush=True)
    sys.stdin.read()
    stop.set()


if __name__ == "__main__":
    main()
