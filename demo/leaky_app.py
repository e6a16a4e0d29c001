#!/usr/bin/env python3
"""leaky_app.py - reproduce the kefu-flask connection-pool exhaustion.

The incident (docs/incident.md): a Flask + Flask-SQLAlchemy
customer-service app on MySQL died with

    QueuePool limit of size 15 overflow 30 reached, connection timed out, timeout 10.00

because the background thread `async_save_visitor` (socketio_events.py) used
`db.session` and never called `db.session.remove()`. Every such thread kept one
pooled connection checked out, sitting in MySQL as `Sleep` with an open InnoDB
transaction, until all 15 + 30 = 45 were gone.

This program has the same shape without Flask:

* one SQLAlchemy engine, `pool_size=15, max_overflow=30, pool_timeout=10`, PyMySQL
  driver, MySQL user `kefu`, database `kefu`, connect attribute
  `program_name=kefu-flask` (visible in performance_schema.session_connect_attrs);
* a thread-local `scoped_session`, as Flask-SQLAlchemy's `db.session`;
* healthy request traffic: each request runs in its own thread, SELECTs and
  INSERTs, commits, and calls `Session.remove()` in `finally` - what
  `@app.teardown_appcontext` does in the fixed app;
* the leak: one `async_save_visitor` thread per visitor that SELECTs and INSERTs,
  never commits and never calls `Session.remove()`, then stays alive (the visitor's
  socket is still open), so its connection never returns to the pool;
* `--fixed`: the same thread commits and calls `Session.remove()` in `finally`
  (the operators' fix, docs/incident.md); the thread still stays alive, which shows
  that the thread living on is harmless once the session is removed.

Every second it logs the pool's checkedout()/size()/overflow(); when the pool is
exhausted it logs SQLAlchemy's own TimeoutError text and keeps going.
It stops cleanly on SIGTERM/SIGINT or when --duration elapses (exit 0).

With --metrics-port the app also serves its own view of the pool on /metrics, as an app
instrumented with OpenTelemetry would (opentelemetry-instrumentation-sqlalchemy + the
Prometheus pull exporter): connections used and idle per `pool_name`, next to what
mysql_pool_exporter sees on the server (docs/app-view.md).

The Python standard library plus SQLAlchemy 2.x and PyMySQL, and the OpenTelemetry packages
for --metrics-port (requirements.txt).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
from datetime import datetime

try:
    from sqlalchemy import (BigInteger, DateTime, Integer, String, Text, create_engine,
                            func, select, text)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError, SQLAlchemyError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker
except ImportError as exc:  # pragma: no cover - environment problem, say how to fix it
    sys.exit(f"leaky_app: {exc}. Install the demo's requirements: "
             f"python3 -m venv demo/.venv && demo/.venv/bin/pip install -r demo/requirements.txt")

log = logging.getLogger("kefu-flask")

DEFAULT_DSN = "mysql+pymysql://kefu@127.0.0.1:3306/kefu"
MAX_LIVE_THREADS = 1000  # a bound on request/visitor threads, so a wedged pool cannot fork-bomb


# --------------------------------------------------------------------------- models
class Base(DeclarativeBase):
    pass


class Visitor(Base):
    __tablename__ = "visitors"
    __table_args__ = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    visitor_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    ip: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(String(255))
    visits: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    last_seen: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    visitor_id: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


# --------------------------------------------------------------------------- the app
class Stats:
    """Counters of work done while the app runs (work finishing after shutdown began is not
    counted: waiting threads get connections then, as the leaked sessions are released)."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._lock = threading.Lock()
        self.requests_ok = 0
        self.requests_failed = 0
        self.visitors_saved = 0
        self.visitors_leaked = 0
        self.visitors_failed = 0
        self.pool_timeouts = 0
        self.dropped = 0

    def add(self, name: str, n: int = 1) -> None:
        if self._stop.is_set():
            return
        with self._lock:
            setattr(self, name, getattr(self, name) + n)


class App:
    def __init__(self, args: argparse.Namespace, url) -> None:
        self.args = args
        self.stop = threading.Event()
        self.stats = Stats(self.stop)
        self.engine = create_engine(
            url,
            pool_size=args.pool_size,
            max_overflow=args.max_overflow,
            pool_timeout=args.pool_timeout,
            # PyMySQL sends this as a connect attribute: performance_schema.session_connect_attrs
            # then shows program_name=kefu-flask next to _client_name=PyMySQL and _pid.
            connect_args={"program_name": args.program_name, "connect_timeout": 5},
            # OpenTelemetry's pool.name is the *pool's* logging name (engine.pool.logging_name),
            # which only pool_logging_name sets; without it the instrumentation names the pool
            # "mysql+pymysql://host:port/db", which no exporter pool is called.
            pool_logging_name=args.program_name,
        )
        if args.metrics_port:
            # Before the first connection: the counts are sums of pool events, and an event
            # missed (a connection opened earlier) would stay missing from them for good.
            serve_pool_metrics(self.engine, args)
        # Flask-SQLAlchemy's db.session is a scoped_session like this one: one Session per
        # thread (per app context), created on first use, discarded only by remove().
        self.Session = scoped_session(sessionmaker(bind=self.engine))
        self.known_visitors: list[str] = []
        self._known_lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self._ids = itertools.count(1)

    # ---------------------------------------------------------------- helpers
    def _spawn(self, target, name: str, *a) -> None:
        with self._threads_lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            if len(self._threads) >= MAX_LIVE_THREADS:
                self.stats.add("dropped")
                return
            t = threading.Thread(target=self._run_thread, args=(target, *a), name=name, daemon=True)
            self._threads.add(t)
        t.start()

    def _run_thread(self, target, *a) -> None:
        try:
            target(*a)
        except Exception:  # never let a demo thread die silently
            log.exception("unexpected error")

    def _report_failure(self, what: str, exc: Exception, counter: str) -> None:
        self.stats.add(counter)
        if isinstance(exc, PoolTimeoutError):
            self.stats.add("pool_timeouts")
        # The same text the incident's logs showed, e.g.
        # sqlalchemy.exc.TimeoutError: QueuePool limit of size 15 overflow 30 reached,
        # connection timed out, timeout 10.00 (Background on this error at: ...)
        log.error("%s failed: %s.%s: %s", what, type(exc).__module__, type(exc).__name__, exc)

    def pool_line(self) -> str:
        pool = self.engine.pool
        cap = pool.size() + self.args.max_overflow
        s = self.stats
        return (f"pool checkedout={pool.checkedout()}/{cap} size={pool.size()} "
                f"overflow={max(pool.overflow(), 0)}/{self.args.max_overflow} "
                f"checkedin={pool.checkedin()} | requests ok={s.requests_ok} "
                f"failed={s.requests_failed} | visitors saved={s.visitors_saved} "
                f"leaked={s.visitors_leaked} failed={s.visitors_failed} | "
                f"pool_timeouts={s.pool_timeouts}"
                + (f" dropped={s.dropped}" if s.dropped else ""))

    # ---------------------------------------------------------------- healthy traffic
    def handle_request(self, req_no: int) -> None:
        """A request of the fixed app: use db.session, commit, teardown removes it."""
        session = self.Session()
        try:
            with self._known_lock:
                vid = random.choice(self.known_visitors) if self.known_visitors else "anonymous"
            session.execute(select(func.count()).select_from(ChatMessage)
                            .where(ChatMessage.visitor_id == vid)).scalar_one()
            session.add(ChatMessage(visitor_id=vid, body=f"hello from request {req_no}"))
            session.commit()
            self.stats.add("requests_ok")
        except SQLAlchemyError as exc:
            session.rollback()
            self._report_failure(f"request #{req_no} POST /api/messages", exc, "requests_failed")
        finally:
            # @app.teardown_appcontext -> db.session.remove(): the connection goes back.
            self.Session.remove()

    # ---------------------------------------------------------------- the leak
    def async_save_visitor(self, visitor_id: str, ip: str, user_agent: str) -> None:
        """socketio_events.py's background thread, as it was (or fixed with --fixed)."""
        session = self.Session()
        leaked = False
        try:
            visitor = session.execute(
                select(Visitor).where(Visitor.visitor_id == visitor_id)).scalar_one_or_none()
            if visitor is None:
                session.add(Visitor(visitor_id=visitor_id, ip=ip, user_agent=user_agent))
            else:
                visitor.visits += 1
                visitor.last_seen = func.now()
            session.flush()  # INSERT sent: the InnoDB transaction is open on the server
            with self._known_lock:
                self.known_visitors.append(visitor_id)
                del self.known_visitors[:-500]
            if self.args.fixed:
                session.commit()
                self.stats.add("visitors_saved")
            else:
                # The bug: no commit, no db.session.remove(). (Committing alone would not
                # be enough either: touching `visitor.id` afterwards re-SELECTs and opens a
                # new transaction on a checked-out connection. remove() is the fix.)
                leaked = True
                self.stats.add("visitors_leaked")
        except SQLAlchemyError as exc:
            session.rollback()
            self._report_failure(f"async_save_visitor({visitor_id})", exc, "visitors_failed")
        finally:
            if self.args.fixed:
                self.Session.remove()  # the fix: the connection goes back to the pool
        if leaked or self.args.fixed:
            # The visitor's socket stays open; so does this thread. Unfixed, the session
            # and its connection (Sleep, open transaction) stay with it.
            self.stop.wait()
        if leaked:
            self.Session.remove()  # only at process shutdown, so the demo exits cleanly

    # ---------------------------------------------------------------- drivers
    def _rate_loop(self, rate: float, fire) -> None:
        if rate <= 0:
            return
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            fire()
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                next_at = time.monotonic()  # fell behind: do not burst to catch up

    def _new_request(self) -> None:
        n = next(self._ids)
        self._spawn(self.handle_request, f"request-{n}", n)

    def _new_visitor(self) -> None:
        vid = uuid.uuid4().hex[:16]
        ip = f"203.0.113.{random.randint(1, 254)}"  # documentation range, never contacted
        self._spawn(self.async_save_visitor, f"async_save_visitor-{vid}", vid, ip, "Mozilla/5.0 (demo)")

    def wait_for_db(self) -> bool:
        deadline = time.monotonic() + self.args.wait_for_db
        while True:
            try:
                with self.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return True
            except OperationalError as exc:
                if time.monotonic() >= deadline or self.stop.is_set():
                    log.error("database not reachable: %s", exc.orig if exc.orig else exc)
                    return False
                log.info("waiting for the database: %s", exc.orig if exc.orig else exc)
                self.stop.wait(2)

    def setup(self) -> None:
        Base.metadata.create_all(self.engine)
        log.info("tables ready: %s", ", ".join(sorted(Base.metadata.tables)))

    def run(self) -> int:
        a = self.args
        if not self.wait_for_db():
            return 1
        if a.setup:
            try:
                self.setup()
            except SQLAlchemyError as exc:
                log.error("--setup failed: %s", exc)
                return 1
        log.info("starting: mode=%s leak-rate=%s/s healthy-rate=%s/s duration=%s pool_size=%d "
                 "max_overflow=%d pool_timeout=%s program_name=%s",
                 "fixed" if a.fixed else "LEAKY", a.leak_rate, a.healthy_rate,
                 f"{a.duration:g}s" if a.duration else "forever", a.pool_size, a.max_overflow,
                 a.pool_timeout, a.program_name)
        drivers = [
            threading.Thread(target=self._rate_loop, args=(a.healthy_rate, self._new_request),
                             name="http-server", daemon=True),
            threading.Thread(target=self._rate_loop, args=(a.leak_rate, self._new_visitor),
                             name="socketio", daemon=True),
        ]
        for t in drivers:
            t.start()
        started = time.monotonic()
        next_log = started
        while not self.stop.is_set():
            if a.duration and time.monotonic() - started >= a.duration:
                log.info("--duration %gs elapsed", a.duration)
                break
            now = time.monotonic()
            if now >= next_log:
                log.info("%s", self.pool_line())
                next_log += a.log_interval
            self.stop.wait(max(0.05, min(next_log - time.monotonic(), 0.5)))
        return self.shutdown()

    def shutdown(self) -> int:
        log.info("shutting down: %s", self.pool_line())
        self.stop.set()
        deadline = time.monotonic() + 3.0
        with self._threads_lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        still = sum(t.is_alive() for t in threads)
        if still:
            # Threads blocked in a pool checkout give up after pool_timeout; they are
            # daemon threads, so they do not hold the process.
            log.info("%d threads still waiting for a connection; not waiting for them", still)
        self.engine.dispose()
        log.info("stopped: requests ok=%d failed=%d, visitors saved=%d leaked=%d failed=%d, "
                 "pool timeouts=%d", self.stats.requests_ok, self.stats.requests_failed,
                 self.stats.visitors_saved, self.stats.visitors_leaked,
                 self.stats.visitors_failed, self.stats.pool_timeouts)
        return 0


# --------------------------------------------------------------------------- the app's own metrics
OTEL_PACKAGES = ("opentelemetry-sdk, opentelemetry-instrumentation-sqlalchemy and "
                 "opentelemetry-exporter-prometheus")


def serve_pool_metrics(engine, args: argparse.Namespace) -> None:
    """The engine's pool as OpenTelemetry's SQLAlchemy instrumentation counts it (checkouts and
    checkins: `used` and `idle`), served for Prometheus on args.metrics_host:args.metrics_port."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource
        from prometheus_client import start_http_server
    except ImportError as exc:
        sys.exit(f"leaky_app: --metrics-port needs {OTEL_PACKAGES} ({exc}). Install the demo's "
                 f"requirements: demo/.venv/bin/pip install -r demo/requirements.txt")
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()],
                             resource=Resource.create({"service.name": args.program_name}))
    # The provider is handed over, not made global: this /metrics carries the pool's numbers
    # (and OpenTelemetry's target_info) and nothing else.
    SQLAlchemyInstrumentor().instrument(engine=engine, meter_provider=provider)
    try:
        start_http_server(args.metrics_port, addr=args.metrics_host)
    except OSError as exc:
        sys.exit(f"leaky_app: cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc}")
    log.info("pool metrics (OpenTelemetry) on http://%s:%d/metrics", args.metrics_host, args.metrics_port)


# --------------------------------------------------------------------------- CLI
def rate(value: str) -> float:
    v = value[:-2] if value.endswith("/s") else value
    try:
        f = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a rate; use e.g. 2 or 2/s") from None
    if f < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a rate cannot be negative")
    return f


def seconds(value: str) -> float:
    v = value[:-1] if value.endswith("s") else value
    try:
        f = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if f < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: cannot be negative")
    return f


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Reproduce kefu-flask's QueuePool exhaustion: a background thread that "
                    "never calls db.session.remove().")
    p.add_argument("--dsn", default=os.environ.get("KEFU_DSN", DEFAULT_DSN),
                   help="SQLAlchemy URL (default: $KEFU_DSN or %(default)s); the password may "
                        "come from $KEFU_PASSWORD instead of the URL")
    p.add_argument("--leak-rate", type=rate, default=1.0, metavar="N/s",
                   help="new visitors (async_save_visitor threads) per second (default 1)")
    p.add_argument("--healthy-rate", type=rate, default=5.0, metavar="N/s",
                   help="healthy requests per second (default 5)")
    p.add_argument("--duration", type=seconds, default=0.0, metavar="S",
                   help="stop after S seconds; 0 = run until SIGTERM/SIGINT (default)")
    p.add_argument("--fixed", action="store_true",
                   help="async_save_visitor commits and calls Session.remove(): the fix")
    p.add_argument("--setup", action="store_true",
                   help="create the tables (InnoDB) if missing, then run")
    p.add_argument("--pool-size", type=int, default=15, help=argparse.SUPPRESS)
    p.add_argument("--max-overflow", type=int, default=30, help=argparse.SUPPRESS)
    p.add_argument("--pool-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    p.add_argument("--program-name", default="kefu-flask",
                   help="connect attribute program_name (default %(default)s)")
    p.add_argument("--wait-for-db", type=seconds, default=60.0, metavar="S",
                   help="retry the first connection for up to S seconds (default 60)")
    p.add_argument("--log-interval", type=seconds, default=1.0, metavar="S",
                   help="pool status line every S seconds (default 1)")
    p.add_argument("--metrics-port", type=int, default=0, metavar="PORT",
                   help="serve the pool's OpenTelemetry metrics (db.client.connections.usage) "
                        "for Prometheus on this port; 0 = off (default)")
    p.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDR",
                   help="address --metrics-port listens on (default %(default)s)")
    args = p.parse_args(argv)
    if args.log_interval <= 0:
        p.error("--log-interval must be > 0")
    if not 0 <= args.metrics_port <= 65535:
        p.error("--metrics-port must be a port number (0 = off)")
    return args


def build_url(dsn: str):
    try:
        url = make_url(dsn)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        sys.exit(f"leaky_app: bad --dsn: {exc}. Expected mysql+pymysql://kefu:PASSWORD@HOST:PORT/kefu")
    if url.password is None and os.environ.get("KEFU_PASSWORD"):
        url = url.set(password=os.environ["KEFU_PASSWORD"])
    return url


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s [%(threadName)s] %(message)s")
    url = build_url(args.dsn)
    log.info("connecting to %s", url.render_as_string(hide_password=True))
    app = App(args, url)

    def on_signal(signum, _frame):
        log.info("received %s", signal.Signals(signum).name)
        app.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rc = app.run()
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
