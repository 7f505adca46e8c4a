"""One reader of the event log per process, fanning out to every watch stream.

A process holds one database connection for this, whatever the number of
watchers. On PostgreSQL it LISTENs on `registry_events` (migration 0008's
trigger NOTIFYs it when events commit, through any replica) and reads what is
new when notified; a catch-up read every `catch_up` seconds covers a
notification lost while the connection was being re-established. On SQLite
the process's own commits wake it (Database.after_write), and the periodic
read covers other processes writing the same file.

Each read returns events above the horizon (horizon.py): only ids that are
final are released, so every stream sees the events in id order with none
skipped. Releasing happens under the feed's lock, and so does subscribing: a
new stream starts exactly at the horizon of that moment, reads its backlog
up to it from the database, and takes everything after from its mailbox.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from registry_server.domain.errors import Unavailable
from registry_server.events.horizon import Horizon, Snapshot
from registry_server.events.mailbox import Closed, Mailbox
from registry_server.store import event_feed

log = logging.getLogger(__name__)

CHANNEL = "registry_events"
#: Events read per query; a larger backlog is read in several.
BATCH = 500
#: While ids are held back for transactions in flight, read again this soon.
RESOLVE_INTERVAL = 0.01
#: Reads at most this often under a stream of notifications.
MIN_INTERVAL = 0.005


class EventFeed:
    """Starts its thread on the first subscription; `close` ends it and
    every stream (with UNAVAILABLE: resume on another server)."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        *,
        catch_up: float = 1.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._on_close = on_close
        self._catch_up = catch_up
        self._lock = threading.Lock()
        self._mailboxes: set[Mailbox] = set()
        self._horizon: Horizon | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._conn: Connection | None = None

    # ------------------------------------------------------------ streams

    def subscribe(self, mailbox: Mailbox, wait: float = 10.0) -> int:
        """Add a stream's mailbox; returns the horizon it starts after (every
        event up to it is final and is to be read from the database)."""
        self._start()
        if not self._ready.wait(wait) or self._stopping.is_set():
            raise Unavailable("the event feed is not available yet; retry")
        with self._lock:
            assert self._horizon is not None
            position = self._horizon.value
            mailbox.start_at(position)
            self._mailboxes.add(mailbox)
            return position

    def unsubscribe(self, mailbox: Mailbox) -> None:
        with self._lock:
            self._mailboxes.discard(mailbox)

    @property
    def streams(self) -> int:
        with self._lock:
            return len(self._mailboxes)

    def wake(self) -> None:
        """Something committed in this process: read soon."""
        # BlockingIOError: already awake (buffer full); OSError: closed.
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def close(self) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for mailbox in self._mailboxes:
                mailbox.close(Closed.SHUTDOWN)
            self._mailboxes.clear()
        self._wake_r.close()
        self._wake_w.close()
        if self._on_close is not None:
            self._on_close()

    # ------------------------------------------------------------- thread

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="event-feed", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                if self._conn is None:
                    self._open()
                self._read()
                backoff = 0.1
                self._wait()
            except Exception as exc:  # the database went away: reconnect
                if self._stopping.is_set():
                    break
                log.warning("event feed: %s; reconnecting in %.1f s", exc, backoff)
                self._drop()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        self._drop()

    def _open(self) -> None:
        conn = self._connect()
        try:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"LISTEN {CHANNEL}")
                # The feed takes a transaction id when ids are held back
                # (horizon.py); its commit need not wait for the disk.
                conn.exec_driver_sql("SET synchronous_commit = off")
        except Exception:
            conn.close()
            raise
        self._conn = conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the event feed's connection failed", exc_info=True)
            self._conn = None

    def _snapshot(self, text: str | None) -> Snapshot:
        return Snapshot.parse(text) if text else Snapshot.quiet()

    def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        if self._horizon is None:
            self._begin(conn)
            return
        horizon = self._horizon
        while True:
            text, found = event_feed.read_after(conn, horizon.value, BATCH)
            ids = [e.event_id for e in found]
            position = horizon.advance(self._snapshot(text), ids, truncated=len(found) == BATCH)
            held = horizon.held_top(ids)
            if held is not None:
                horizon.hold(held, event_feed.next_transaction_id(conn))
            released = [e for e in found if e.event_id <= position]
            with self._lock:
                for mailbox in list(self._mailboxes):
                    mailbox.offer(released, position)
            if len(found) < BATCH or not released:
                break
        # End the read's transaction (SQLite would keep its snapshot).
        conn.rollback()

    def _begin(self, conn: Connection) -> None:
        """The first horizon: the largest id visible now, once every
        transaction then running has ended (the same rule as later)."""
        _, top = event_feed.top(conn)
        if conn.dialect.name == "postgresql":
            bound = event_feed.next_transaction_id(conn)
            while not self._stopping.is_set():
                text, _ = event_feed.top(conn)
                if self._snapshot(text).xmin >= bound:
                    break
                self._stopping.wait(RESOLVE_INTERVAL)
        conn.rollback()
        self._horizon = Horizon(top, ordered=conn.dialect.name != "postgresql")
        self._ready.set()

    def _wait(self) -> None:
        """Until notified, woken, or it is time for a catch-up read."""
        assert self._horizon is not None and self._conn is not None
        self._stopping.wait(MIN_INTERVAL)
        timeout = RESOLVE_INTERVAL if self._horizon.waiting else self._catch_up
        raw = self._conn.connection.dbapi_connection
        listening = raw is not None and hasattr(raw, "notifies")
        sources: list[Any] = [self._wake_r]
        if listening:
            sources.append(raw)
        readable, _, _ = select.select(sources, [], [], timeout)
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError, OSError):
                while self._wake_r.recv(4096):
                    pass
        if listening:
            raw.poll()  # type: ignore[union-attr]  # psycopg2: raises if the connection died
            raw.notifies.clear()  # type: ignore[union-attr]
