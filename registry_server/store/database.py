"""Engine creation and the one transaction scope every store operation uses.

PostgreSQL gets two connection pools sized for the server's worker threads.
Writes check a connection out with pre-ping, so a restarted database is
noticed before a mutation starts. Reads skip the ping and run in autocommit:
under READ COMMITTED every statement takes its own snapshot whether or not it
is wrapped in a transaction, so BEGIN, COMMIT and the ping would be three round
trips that buy nothing on the hottest calls (get by alias, resolve). A read on
a connection the database dropped fails once with UNAVAILABLE, which the
client retries; the failure marks every older pooled connection invalid, so
the pool refills by itself.
Every PostgreSQL connection has `statement_timeout` and `lock_timeout` set to
the configured maximum (REGISTRY_STATEMENT_TIMEOUT) once, when it is opened;
each write transaction lowers both to the time its call has left
(`SET LOCAL`, registry_server/deadline.py), so a query or lock wait ends when
its caller gave up. That costs a write one round trip; reads keep the
connection's maximum, since a SET per read would add a round trip to every
get-by-alias.
SQLite (the embedded default) runs in WAL mode with write transactions opened
as BEGIN IMMEDIATE: writers queue on the file lock up front instead of failing
halfway with "database is locked" when two deferred readers both try to write.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from registry_server import deadline, metrics
from registry_server.domain.errors import Unavailable
from registry_server.store import prepared
from registry_server.store.watchdog import Watchdog

log = logging.getLogger(__name__)

_WRITE = "registry_write"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's "begin" hook below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _timeout_ms(seconds: float) -> int:
    # 0 would mean "no limit" to PostgreSQL.
    return max(1, int(seconds * 1000))


def _configure_postgres_timeouts(engine: Engine, seconds: float) -> None:
    ms = _timeout_ms(seconds)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {ms}; SET lock_timeout = {ms}")
        cursor.close()
        dbapi_connection.commit()


def make_engine(
    url: str,
    pool_size: int = 10,
    *,
    for_reads: bool = False,
    prepared_statements: bool = True,
    statement_timeout: float | None = None,
) -> Engine:
    """An engine for `url`; `for_reads` gives PostgreSQL's autocommit read pool,
    `prepared_statements` lets the hot lookups be prepared (see store/prepared.py),
    `statement_timeout` (seconds, None: PostgreSQL's own setting) bounds every
    statement and lock wait of its connections."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    # A PostgreSQL that stops answering (partition, hung host) must turn into
    # UNAVAILABLE within seconds, not hang worker threads until the pool is
    # exhausted: bound the connect and let TCP keep-alives notice a dead peer.
    # Settings given in the URL win.
    network = {
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
    }
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=not for_reads,
        # Most recently used first: at low concurrency calls reuse the same few
        # connections, whose prepared statements are already there.
        pool_use_lifo=True,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={k: v for k, v in network.items() if k not in parsed.query},
        **({"isolation_level": "AUTOCOMMIT"} if for_reads else {}),
    )
    if not for_reads:
        _ping_only_idle_connections(engine, RECENTLY_USED_SECONDS)
    if statement_timeout is not None:
        _configure_postgres_timeouts(engine, statement_timeout)
    if prepared_statements:
        prepared.enable(engine)
    return engine


#: A write connection given back to the pool this many seconds ago or less is
#: handed out again without a ping.
RECENTLY_USED_SECONDS = 1.0


def _ping_only_idle_connections(engine: Engine, window: float) -> None:
    """Skip the pre-ping of a connection that was in use moments ago.

    The write pool pings each connection it hands out, so that a write is not
    sent on a connection a database restart closed while it sat in the pool.
    Under load that ping was a round trip per write (14% of an alias move's
    server samples, py-spy) on connections used a millisecond before. One
    given back within `window` seconds is handed out as it is: the database
    would have to have gone away in that moment, and then the write fails
    on the closed connection with UNAVAILABLE (the pool drops it) without
    having run: a closed connection executes nothing. Connections idle for
    longer, which a restart leaves behind, are still pinged.
    """
    checked_in: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    @event.listens_for(engine, "checkin")
    def _stamp(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            checked_in[dbapi_connection] = time.monotonic()

    ping = engine.dialect.do_ping

    def ping_if_idle(dbapi_connection: Any) -> bool:
        last = checked_in.get(dbapi_connection)
        if last is not None and time.monotonic() - last < window:
            return True
        return ping(dbapi_connection)

    # The dialect is this engine's own; the watchdog wraps the result too.
    setattr(engine.dialect, "do_ping", ping_if_idle)  # noqa: B010


def _is_unavailable(exc: DBAPIError) -> bool:
    # Lost connections, refused connections, SQLite lock timeouts: all
    # transient from the caller's point of view.
    return exc.connection_invalidated or isinstance(exc, OperationalError)


@contextmanager
def _unavailable_mapped() -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        if _is_unavailable(exc):
            log.warning("database unavailable: %s", exc.orig)
            raise Unavailable("the metadata database is unavailable; retry") from exc
        raise


class Database:
    """Owns the engines; hands out read and write transactions.

    `read_engine` defaults to `engine` (SQLite: a deferred BEGIN is free and
    gives multi-statement reads one snapshot of the file).
    """

    def __init__(
        self,
        engine: Engine,
        read_engine: Engine | None = None,
        *,
        statement_timeout: float | None = None,
        instrument: bool = False,
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        # Metrics (`instrument`, a server with --http-listen): the pools are
        # sampled for their size and use at each flush, checkout waits timed
        # (registry_server/metrics.py). SQLite has one pool, labelled "write".
        self._write_wait: Callable[[float], None] | None = None
        self._read_wait: Callable[[float], None] | None = None
        self._instrumented: list[Any] = []
        if instrument:
            self._write_wait = self._read_wait = metrics.pool_wait_observer("write")
            metrics.pools.add("write", engine)
            self._instrumented.append(engine)
            if self.read_engine is not engine:
                self._read_wait = metrics.pool_wait_observer("read")
                metrics.pools.add("read", self.read_engine)
                self._instrumented.append(self.read_engine)
        # PostgreSQL: write transactions end by their call's deadline, and
        # by `statement_timeout` seconds at most.
        self._bound_writes = statement_timeout is not None and self.dialect == "postgresql"
        self._max_timeout = statement_timeout or 0.0
        # PostgreSQL: a connection stalled past its call's deadline is shut
        # down (store/watchdog.py).
        self.watchdog = Watchdog() if self.dialect == "postgresql" else None
        if self.watchdog:
            self.watchdog.guard_pings(engine)
        # Called after every committed write (SQLite: wakes this process's
        # event feed; PostgreSQL's feed is notified by the database itself).
        self.after_write: Callable[[], None] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _connect(self, write: bool) -> Connection:
        """A connection from the write or read pool, its wait timed when
        metrics are on (on the write pool the wait includes the pre-ping)."""
        engine = self.engine if write else self.read_engine
        observe = self._write_wait if write else self._read_wait
        if observe is None:
            return engine.connect()
        begin = time.perf_counter()
        conn = engine.connect()
        observe(time.perf_counter() - begin)
        return conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        with _unavailable_mapped(), self._connect(write) as conn:
            if write:
                conn = conn.execution_options(**{_WRITE: True})
            watched = self.watchdog.watch(conn) if self.watchdog else None
            try:
                with conn.begin():
                    if write and self._bound_writes:
                        self._bound_transaction(conn)
                    yield conn
                if write and self.after_write is not None:
                    self.after_write()
            finally:
                if self.watchdog:
                    self.watchdog.unwatch(watched)

    def _bound_transaction(self, conn: Connection) -> None:
        """Lower the transaction's statement and lock timeouts to what its
        call has left (SET LOCAL: they end with the transaction)."""
        bounds = self.local_timeouts()
        if bounds is not None:
            conn.exec_driver_sql(bounds)

    def local_timeouts(self) -> str | None:
        """The SET LOCAL statements that bound a write by what its call has
        left (None on SQLite, or with no statement timeout configured): a
        transaction runs them first; a mutation sent as one message
        (prepared.run_in_one_round_trip) puts them at its front."""
        if not self._bound_writes:
            return None
        left = deadline.remaining()
        seconds = self._max_timeout if left is None else min(left, self._max_timeout)
        if seconds <= 0:
            raise Unavailable("the call's deadline passed before its transaction started")
        ms = _timeout_ms(seconds)
        return f"SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}"

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A write connection in autocommit, for a mutation that is a single
        statement (store/new_version.py): pre-pinged like every write, with no
        BEGIN and COMMIT round trips. On SQLite, a write transaction."""
        if self.dialect == "sqlite":
            with self.write() as conn:
                yield conn
            return
        with _unavailable_mapped(), self._connect(write=True) as conn:
            # psycopg2's autocommit flag is client-side (SQLAlchemy's pre-ping
            # flips it the same way); the AUTOCOMMIT isolation level would
            # cost two SET round trips per checkout.
            dbapi_connection = conn.connection.dbapi_connection
            assert dbapi_connection is not None, "a checked-out connection has one"
            dbapi_connection.autocommit = True
            watched = self.watchdog.watch(conn) if self.watchdog else None
            try:
                yield conn
            finally:
                if self.watchdog:
                    self.watchdog.unwatch(watched)
                if not dbapi_connection.closed:
                    dbapi_connection.autocommit = False

    def write(self) -> AbstractContextManager[Connection]:
        """A transaction for one mutation: commit on success, roll back on any error."""
        return self._transaction(write=True)

    def read(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=False)

    def ping(self) -> None:
        """One ``SELECT 1`` on a read connection, raising if the database does
        not answer: the health probe's check (lifecycle.py bounds its time)."""
        with self.read_engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()

    def dispose(self) -> None:
        for engine in self._instrumented:
            metrics.pools.remove(engine)
        self._instrumented = []
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
