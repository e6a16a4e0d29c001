"""Real application clients for the integration tests: one process holding N sessions.

    app_sessions.py --port P --user U --password-env VAR --db D --program-name NAME
                    --count N [--driver pymysql|sqlalchemy] [--state idle|trx]

`pymysql` opens N PyMySQL connections; `sqlalchemy` checks N connections out of a
QueuePool (pool_size N, as an app would hold them) through PyMySQL. Both send the connect
attributes PyMySQL always sends (`_pid`, `_client_name`, ...) plus `program_name`.
With `--state trx` each session then reads a row inside an open transaction (the leak
shape); with `idle` it just ran `SELECT 1`. Prints `ready <pid>` once every session is open,
then holds them until its stdin closes, so it never outlives the test that started it.
"""

import argparse
import os
import sys


def pymysql_sessions(args, password):
    import pymysql

    conns = []
    for _ in range(args.count):
        conns.append(pymysql.connect(host="127.0.0.1", port=args.port, user=args.user,
                                     password=password, database=args.db,
                                     program_name=args.program_name, autocommit=False))
    return conns


def sqlalchemy_sessions(args, password):
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        f"mysql+pymysql://{args.user}@127.0.0.1:{args.port}/{args.db}",
        connect_args={"password": password, "program_name": args.program_name},
        pool_size=args.count, max_overflow=0)
    # Raw DBAPI connections checked out of the QueuePool: what a request holds.
    return [engine.raw_connection() for _ in range(args.count)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-env", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--program-name", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--driver", choices=["pymysql", "sqlalchemy"], default="pymysql")
    p.add_argument("--state", choices=["idle", "trx"], default="idle")
    args = p.parse_args()
    password = os.environ[args.password_env]
    open_ = pymysql_sessions if args.driver == "pymysql" else sqlalchemy_sessions
    conns = open_(args, password)
    for c in conns:
        cur = c.cursor()
        if args.state == "trx":
            cur.execute("START TRANSACTION")
            cur.execute("SELECT name FROM visitors WHERE id = 2")
        else:
            cur.execute("SELECT 1")
        cur.fetchall()
        cur.close()
    print(f"ready {os.getpid()}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
