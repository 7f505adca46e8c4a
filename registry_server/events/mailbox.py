"""One watch stream's share of the feed: the events it wants, bounded.

The feed's thread appends (never blocking: a stream that stops reading must
not hold up the others), the stream's own thread takes. A mailbox that would
grow past its capacity is closed instead, and the stream ends with
RESOURCE_EXHAUSTED: its client resumes from the last cursor it got, which
costs one backlog read instead of unbounded memory on the server.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable, Sequence

from registry_server.store.event_feed import FeedEvent


class Closed(enum.Enum):
    OVERFLOW = "overflow"
    SHUTDOWN = "shutdown"
    FINISHED = "finished"


class Mailbox:
    """Events matching one stream's filters, up to `position`."""

    def __init__(self, matches: Callable[[FeedEvent], bool], capacity: int) -> None:
        self._matches = matches
        self._capacity = capacity
        self._cond = threading.Condition()
        self._queue: deque[FeedEvent] = deque()
        # Every matching event with an id up to this is in the queue or was taken.
        self._position = 0
        self.closed: Closed | None = None
        # Called (from the feed's thread) when the mailbox overflows, so a
        # stream blocked on a slow client can be ended from outside.
        self.on_overflow: Callable[[], None] | None = None

    def start_at(self, position: int) -> None:
        with self._cond:
            self._position = position

    def offer(self, events: Sequence[FeedEvent], position: int) -> None:
        """From the feed: events released up to `position` (all of them, not
        only this stream's)."""
        overflowed = False
        appended = False
        with self._cond:
            if self.closed is not None:
                return
            for event in events:
                if event.event_id > self._position and self._matches(event):
                    if len(self._queue) >= self._capacity:
                        self.closed = Closed.OVERFLOW
                        self._queue.clear()
                        overflowed = True
                        break
                    self._queue.append(event)
                    appended = True
            if not overflowed:
                self._position = max(self._position, position)
            # Only a stream with something to send is woken: a thousand idle
            # watchers cost nothing per release.
            if appended or overflowed:
                self._cond.notify_all()
        if overflowed and self.on_overflow is not None:
            self.on_overflow()

    def take(self, timeout: float) -> tuple[list[FeedEvent], int]:
        """Everything queued (waiting up to `timeout` for something) and the
        position it is complete up to. Empty on timeout or once closed."""
        with self._cond:
            if not self._queue and self.closed is None:
                self._cond.wait(timeout)
            taken = list(self._queue)
            self._queue.clear()
            return taken, self._position

    def close(self, reason: Closed) -> None:
        with self._cond:
            if self.closed is None:
                self.closed = reason
            self._cond.notify_all()
