"""WatchModelEvents: one stream = backlog from the database, then the feed.

A stream starts by subscribing to the process's feed, which fixes the
horizon H it starts from (every event up to H is final). It then sends the
backlog, the events after the client's cursor up to H, read from the
database a page at a time with the same restrictions as ListModelEvents, and
then what the feed releases after H, filtered the same way. Every response
carries the cursor: the id up to which everything matching was sent, which
is where a client resumes (here or on another replica) without loss or
repeats.

What the caller may see is checked for live events too: a caller whose
global role reads everything costs nothing; others have each batch of
events filtered by one query, so a grant revoked mid-stream hides what
follows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, and_

from registry_server.domain.access import Caller, Role
from registry_server.domain.entities import EventQuery, ModelEvent
from registry_server.domain.errors import InvalidArgument, ResourceExhausted, Unavailable
from registry_server.domain.history import HistoryService
from registry_server.events.feed import EventFeed
from registry_server.events.mailbox import Closed, Mailbox
from registry_server.events.settings import WatchSettings
from registry_server.store import event_feed, events
from registry_server.store.access import ADMIN_ONLY_KINDS, GRANT_KINDS
from registry_server.store.database import Database
from registry_server.store.event_feed import FeedEvent
from registry_server.store.schema import model_events

BACKLOG_PAGE = 500
_CHECKED_KINDS = frozenset(ADMIN_ONLY_KINDS) | frozenset(GRANT_KINDS)


@dataclass(frozen=True, slots=True)
class WatchRequest:
    name: str = ""
    kinds: tuple[str, ...] = ()
    alias: str = ""
    after_event_id: int = 0
    from_beginning: bool = False


class WatchService:
    def __init__(
        self, db: Database, history: HistoryService, feed: EventFeed, settings: WatchSettings
    ) -> None:
        self.db = db
        self.history = history
        self.feed = feed
        self.settings = settings
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._total = 0

    def open(self, request: WatchRequest, caller: Caller) -> Watch:
        """Checks the request and the caller (as ListModelEvents would),
        takes a stream slot, and subscribes: the returned Watch must be
        closed."""
        if request.after_event_id < 0:
            raise InvalidArgument("after_event_id must not be negative")
        query = EventQuery(name=request.name, alias=request.alias, kinds=request.kinds)
        model_id, backlog_restrict, live_restrict = self.history.watch_scope(query, caller)
        self._take_slot(caller.principal)
        try:
            watch = Watch(self, request, query, caller, model_id, backlog_restrict, live_restrict)
            watch.subscribe()
        except BaseException:
            self._give_slot(caller.principal)
            raise
        return watch

    def _take_slot(self, principal: str) -> None:
        with self._lock:
            if self._total >= self.settings.max_streams:
                raise ResourceExhausted(
                    f"the server holds {self.settings.max_streams} watch streams, its limit "
                    "(REGISTRY_WATCH_STREAMS_MAX); retry later or on another replica"
                )
            held = self._open.get(principal, 0)
            if held >= self.settings.per_principal:
                raise ResourceExhausted(
                    f"principal {principal!r} already holds {held} watch streams, the limit "
                    "per principal (REGISTRY_WATCH_STREAMS_PER_PRINCIPAL)"
                )
            self._open[principal] = held + 1
            self._total += 1

    def _give_slot(self, principal: str) -> None:
        with self._lock:
            left = self._open.get(principal, 0) - 1
            if left > 0:
                self._open[principal] = left
            else:
                self._open.pop(principal, None)
            self._total -= 1


class Watch:
    """One open stream: iterate for (event or None for a heartbeat, cursor)."""

    def __init__(
        self,
        service: WatchService,
        request: WatchRequest,
        query: EventQuery,
        caller: Caller,
        model_id: int | None,
        backlog_restrict: ColumnElement[bool] | None,
        live_restrict: ColumnElement[bool] | None,
    ) -> None:
        self._service = service
        self._request = request
        self._query = query
        self._caller = caller
        self._model_id = model_id
        self._backlog_restrict = backlog_restrict
        self._live_restrict = live_restrict
        self._kinds = frozenset(request.kinds)
        self.mailbox = Mailbox(self._matches, service.settings.buffer)
        self._start = 0
        self._closed = False
        self._close_lock = threading.Lock()

    def subscribe(self) -> None:
        self._start = self._service.feed.subscribe(self.mailbox)

    def close(self) -> None:
        """Idempotent; safe from any thread (gRPC's done callback)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.mailbox.close(Closed.FINISHED)
        self._service.feed.unsubscribe(self.mailbox)
        self._service._give_slot(self._caller.principal)

    # ------------------------------------------------------------ filters

    def _matches(self, found: FeedEvent) -> bool:
        """Cheap, in the feed's thread: name, kinds, alias."""
        event = found.event
        if self._request.name and not (
            event.model_name == self._request.name or found.model_id == self._model_id
        ):
            return False
        if self._kinds and event.kind not in self._kinds:
            return False
        return not (self._request.alias and found.alias != self._request.alias)

    def _shown(self, found: list[FeedEvent]) -> list[ModelEvent]:
        """What of a live batch the caller may see (one query at most)."""
        restrict = self._live_restrict
        if restrict is None or not found:
            return [f.event for f in found]
        if self._caller.role >= Role.READER and not any(
            f.event.kind in _CHECKED_KINDS for f in found
        ):
            return [f.event for f in found]
        with self._service.db.read() as conn:
            visible = event_feed.shown(conn, [f.event_id for f in found], restrict)
        return [f.event for f in found if f.event_id in visible]

    # ------------------------------------------------------------ stream

    def __iter__(self) -> Iterator[tuple[ModelEvent | None, int]]:
        start = self._start
        after = self._request.after_event_id
        if after == 0 and not self._request.from_beginning:
            after = start
        # The cursor first, before any event: a client that reconnects before
        # the first event resumes from here, not from a later "now".
        yield None, after
        cursor = after
        if after < start:
            for event in self._backlog(after, start):
                yield event, event.event_id
            cursor = start
        heartbeat = self._service.settings.heartbeat
        last_sent = time.monotonic()
        while True:
            found, position = self.mailbox.take(
                max(0.0, heartbeat - (time.monotonic() - last_sent))
            )
            closed = self.mailbox.closed
            if closed is Closed.OVERFLOW:
                raise ResourceExhausted(
                    f"the watcher fell {self._service.settings.buffer} events behind "
                    f"(REGISTRY_WATCH_BUFFER); resume after event {cursor}"
                )
            if closed is Closed.SHUTDOWN:
                raise Unavailable(f"the server is shutting down; resume after event {cursor}")
            if closed is Closed.FINISHED:
                return
            for event in self._shown([f for f in found if f.event_id > cursor]):
                yield event, event.event_id
                last_sent = time.monotonic()
            cursor = max(cursor, position)
            if time.monotonic() - last_sent >= heartbeat:
                # Nothing sent for a heartbeat interval (idle, or every event
                # hidden from this caller): keep proxies from closing the
                # stream, and move the client's cursor on.
                yield None, cursor
                last_sent = time.monotonic()

    def _backlog(self, after: int, until: int) -> Iterator[ModelEvent]:
        """Events after `after` up to `until` (final), page by page."""
        up_to = model_events.c.id <= until
        restrict = up_to if self._backlog_restrict is None else and_(self._backlog_restrict, up_to)
        query = replace(self._query, after_event_id=after)
        while True:
            with self._service.db.read() as conn:
                page = events.page(conn, query, BACKLOG_PAGE, restrict)
            yield from page
            if len(page) < BACKLOG_PAGE:
                return
            query = replace(query, after_event_id=page[-1].event_id)
