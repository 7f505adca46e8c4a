"""Frees a worker whose database connection stalls past its call's deadline.

PostgreSQL's statement_timeout fires only for a query PostgreSQL received.
When something between the server and PostgreSQL accepts the bytes and never
forwards them (a stuck proxy or load balancer, the tests' black hole), every
packet and keep-alive is acknowledged, so libpq waits in recv() until the
network heals: the caller got DEADLINE_EXCEEDED long ago, the worker thread
and the connection stay taken. The watchdog remembers each connection checked
out by a call with a deadline; one that is still in use GRACE_SECONDS after
that deadline has its socket shut down (not closed: the descriptor stays
libpq's), so the blocked recv() returns, psycopg2 raises OperationalError, the
pool drops the connection and the call ends as UNAVAILABLE.

Watching costs a lock and a dict entry per transaction (a few microseconds);
calls without a deadline are not watched.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine

from registry_server import deadline

log = logging.getLogger(__name__)

#: How long past its call's deadline a connection may stay in use.
GRACE_SECONDS = 1.0
#: How often the watchdog looks.
INTERVAL_SECONDS = 0.25


class Watchdog:
    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self.grace = grace
        self._lock = threading.Lock()
        self._keys = itertools.count()
        # key -> (due, the DB-API connection)
        self._watched: dict[int, tuple[float, Any]] = {}
        self._thread: threading.Thread | None = None
        #: Connections shut down so far (tests read it).
        self.fired = 0

    def watch(self, conn: Connection) -> int | None:
        """Watch `conn` for the current call; None when it has no deadline."""
        return self._watch(conn.connection.dbapi_connection)

    def guard_pings(self, engine: Engine) -> None:
        """Watch the pool's pre-ping too: it runs before a checkout returns,
        and a black hole stalls it like any query."""
        ping = engine.dialect.do_ping

        def watched_ping(dbapi_connection: Any) -> bool:
            key = self._watch(dbapi_connection)
            try:
                return ping(dbapi_connection)
            finally:
                self.unwatch(key)

        engine.dialect.do_ping = watched_ping  # type: ignore[method-assign]

    def _watch(self, dbapi_connection: Any) -> int | None:
        left = deadline.remaining()
        if left is None:
            return None
        if not hasattr(dbapi_connection, "fileno"):
            return None
        key = next(self._keys)
        due = time.monotonic() + left + self.grace
        with self._lock:
            self._watched[key] = (due, dbapi_connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
        return key

    def unwatch(self, key: int | None) -> None:
        if key is not None:
            with self._lock:
                self._watched.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(INTERVAL_SECONDS)
            now = time.monotonic()
            with self._lock:
                # Under the lock: a transaction that ends now unwatches after
                # this, so only connections still in use are shut down.
                for key, (due, dbapi_connection) in list(self._watched.items()):
                    if due <= now:
                        del self._watched[key]
                        self._shut_down(dbapi_connection)

    def _shut_down(self, dbapi_connection: Any) -> None:
        # A connection the pool already closed may have given its descriptor
        # number to another socket: only an open one is touched.
        if getattr(dbapi_connection, "closed", True):
            return
        try:
            fd = dbapi_connection.fileno()
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except Exception as exc:  # closed meanwhile (psycopg2 InterfaceError), ...
            log.debug("watchdog could not shut down a connection: %s", exc)
            return
        self.fired += 1
        log.warning("database connection stalled past its call's deadline: shut down")
