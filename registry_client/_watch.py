"""Following the registry's changes as they commit: ``watch_model_events``.

The server's ``WatchModelEvents`` stream ends for reasons that say nothing
about the watch itself: the server restarts or is shut down (UNAVAILABLE), a
proxy or load balancer drops the connection, the watcher read too slowly and
was cut off, or the caller already holds as many streams as it may
(RESOURCE_EXHAUSTED). Every response carries a ``cursor`` (every matching
event up to it has been sent), and a stream opened with ``after_event_id`` =
that cursor continues exactly there. So ``EventWatch`` keeps the cursor of
the last response it consumed and opens a new stream from it whenever one
ends, and the caller sees one unbroken sequence of events: nothing lost,
nothing twice.

Why not ``Transport._call``: the funnel bounds a call by the client's
``timeout`` and reads a server stream to its end inside one attempt, while a
watch has no end and no deadline; what it needs instead is a way to notice a
stream that went silent (below). It still sends the same metadata (actor,
token) and raises the same typed errors (``error_from_rpc``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import grpc

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._errors import DeadlineExceeded, RegistryError, error_from_rpc
from registry_client._transport import Transport
from registry_client.types import ModelEvent

__all__ = ["EventWatch", "WatchMixin"]

log = logging.getLogger("registry_client")

#: Codes after which the watch opens a new stream from its cursor: the server
#: going away or restarting (UNAVAILABLE), a watcher cut off for reading too
#: slowly or over the per-principal stream limit (RESOURCE_EXHAUSTED), a
#: stream ended by the server or a proxy (CANCELLED, DEADLINE_EXCEEDED,
#: ABORTED). Everything else (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED,
#: UNAUTHENTICATED, ...) would fail the same way again and is raised at once.
RESUMABLE: frozenset[grpc.StatusCode] = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
    }
)

#: Seconds without any message (the server sends a heartbeat every few
#: seconds) after which a stream counts as dead. A connection that vanished
#: without a FIN or RST (a host that died, a NAT entry that expired, a proxy
#: that stopped forwarding) shows no error for minutes; only its silence
#: tells.
DEFAULT_IDLE_TIMEOUT = 60.0

# Pause before reopening a stream: 0.2 s doubling up to 10 s, each wait a
# random share (half to all) of it, so that the watchers a restarted server
# cut off do not all come back in the same instant. A stream that delivered
# a message starts the sequence over.
_BACKOFF_INITIAL = 0.2
_BACKOFF_MAX = 10.0


class _IdleWatchdog:
    """Cancels the stream being read once it has been silent for ``idle`` seconds.

    One thread per watch, started on first use. It only counts time spent
    waiting for the server (between ``arm`` and ``disarm``), not time the
    caller spends on an event: a deploy hook that runs for ten minutes is not
    a dead stream (a server that gave up on the slow reader ends the stream
    with RESOURCE_EXHAUSTED, and the watch resumes). It holds no reference to
    the ``EventWatch``, so dropping the watch still closes it.
    """

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._cond = threading.Condition()
        self._call: Any = None
        self._since = 0.0
        self._stopped = False
        self._thread: threading.Thread | None = None
        #: The call this watchdog cancelled last (compared by identity).
        self.fired: Any = None

    def arm(self, call: Any) -> None:
        with self._cond:
            if self._stopped:
                return
            self._call = call
            self._since = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="registry-watch-idle", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._call = None

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._call = None
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                if self._call is None:
                    self._cond.wait()
                    continue
                remaining = self._since + self.idle - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                silent, self._call = self._call, None
                self.fired = silent
            silent.cancel()  # outside the lock: cancel runs the call's callbacks


class EventWatch:
    """The registry's changes as they commit, as an iterator of ``ModelEvent``.

    Made by ``RegistryClient.watch_model_events``. Iterating blocks until the
    next matching event; there is no end unless the caller makes one:
    ``close()`` (from any thread; a blocked ``next`` then ends the
    iteration), ``with ... as watch:``, or dropping the watch (``for event in
    client.watch_model_events(...)`` closes the stream once the loop is left
    and the watch is no longer referenced).

    The watch reconnects by itself, resuming after ``cursor``, when a stream
    ends for a reason that may pass (see ``RESUMABLE``, and a stream silent
    for ``idle_timeout`` seconds); it raises the typed error for anything
    else. Events arrive in ``event_id`` order, each once.

    ``cursor`` is where the watch stands: every matching event up to it has
    been returned by ``next``. Store it after handling an event and pass it
    as ``after_event_id`` later to continue without loss or repeats (in
    another process, against another replica). ``reconnects`` counts the
    streams reopened so far.

    One thread iterates a watch at a time; ``close`` may come from any.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        name: str,
        kinds: tuple[str, ...],
        alias: str,
        after_event_id: int,
        from_beginning: bool,
        idle_timeout: float,
    ) -> None:
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._call: Any = None
        self._watchdog = _IdleWatchdog(idle_timeout)
        self._rpc: Any = transport._stub.WatchModelEvents
        self._metadata = transport.metadata
        self._random = transport._random
        self._name = name
        self._kinds = kinds
        self._alias = alias
        self._cursor = after_event_id
        self._from_beginning = from_beginning
        # A stream asked for "from now" (after_event_id 0, not from the
        # beginning) has no position until the server's first response,
        # which carries the current cursor; from then on every stream
        # resumes from a position, even if it is 0 (an empty registry).
        self._positioned = after_event_id > 0 or from_beginning
        self._delay = _BACKOFF_INITIAL
        self._retry: RegistryError | None = None
        self._pending: ModelEvent | None = None
        self.reconnects = 0
        # Open the first stream now, so that "from now" includes every event
        # committed after this returns (the server starts where its event
        # feed stands, which may still be short of a commit made a moment
        # before: that one may be included too) and a bad request fails here.
        # A stream that fails for a passing reason is reopened by the first
        # ``next``.
        self._pending = self._read_one()

    @property
    def cursor(self) -> int:
        """Every matching event with an id up to this has been returned; pass
        it as ``after_event_id`` to continue from here. 0 until the server
        answered a watch started "from now"."""
        return self._cursor

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- iteration ------------------------------------------------------------

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> ModelEvent:
        while True:
            if self._pending is not None:
                event, self._pending = self._pending, None
                return event
            if self._closed.is_set():
                raise StopIteration
            if self._retry is not None:
                self._pause(self._retry)
                continue
            self._pending = self._read_one()

    def _read_one(self) -> ModelEvent | None:
        """Read one response and return its event (None for a heartbeat or a
        stream that ended). A failure worth retrying is kept in ``_retry``."""
        call = self._open()
        if call is None:
            return None  # closed
        self._watchdog.arm(call)
        try:
            response = next(call)
        except StopIteration:
            # The contract has no normal end; a proxy that closed the stream
            # politely is treated like one that broke it.
            self._drop(call)
            self._retry = RegistryError("the server ended the stream", grpc.StatusCode.UNAVAILABLE)
            return None
        except grpc.RpcError as exc:
            self._drop(call)
            if self._closed.is_set():
                return None
            if self._watchdog.fired is call:
                error: RegistryError = DeadlineExceeded(
                    f"no message from the server in {self._watchdog.idle:g} s"
                )
            else:
                error = error_from_rpc(exc)
            if error.code in RESUMABLE:
                self._retry = error
                return None
            self.close()
            raise error from exc
        finally:
            self._watchdog.disarm()
        self._delay = _BACKOFF_INITIAL
        return self._accept(response)

    def _accept(self, response: pb.WatchModelEventsResponse) -> ModelEvent | None:
        """Move the cursor; return the response's event unless it is a
        heartbeat or one already returned."""
        self._positioned = True
        event = None
        if response.HasField("event"):
            if response.event.event_id > self._cursor:
                event = ModelEvent._from_proto(response.event)
                self._cursor = response.event.event_id
            else:
                # At or below the cursor: returned already (the cursor only
                # moves past what was returned or never matched).
                log.warning(
                    "watch: the server sent event %d again (cursor %d); skipped",
                    response.event.event_id,
                    self._cursor,
                )
        # A response's cursor never moves the watch back.
        self._cursor = max(self._cursor, response.cursor)
        return event

    def _open(self) -> Any:
        """The current stream, or a new one from the cursor (None once closed)."""
        with self._lock:
            if self._closed.is_set():
                return None
            if self._call is None:
                request = pb.WatchModelEventsRequest(
                    name=self._name,
                    kinds=list(self._kinds),
                    alias=self._alias,
                    after_event_id=self._cursor,
                    from_beginning=self._from_beginning
                    if not self._positioned
                    else self._cursor == 0,
                )
                self._call = self._rpc(request, metadata=self._metadata)
            return self._call

    def _drop(self, call: Any) -> None:
        with self._lock:
            if self._call is call:
                self._call = None
        call.cancel()  # no-op once the call ended

    def _pause(self, error: RegistryError) -> None:
        """Wait before reopening (cut short by ``close``)."""
        self._retry = None
        pause = self._delay * (0.5 + 0.5 * self._random())
        self._delay = min(self._delay * 2, _BACKOFF_MAX)
        log.warning(
            "watch: stream ended (%s); resuming after event %d in %.1f s",
            error,
            self._cursor,
            pause,
        )
        if not self._closed.wait(pause):
            self.reconnects += 1

    # -- ending -----------------------------------------------------------------

    def close(self) -> None:
        """Stop watching: cancel the stream; a ``next`` blocked in another
        thread ends the iteration. Idempotent."""
        with self._lock:
            self._closed.set()
            call, self._call = self._call, None
        self._watchdog.stop()
        if call is not None:
            call.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A watch dropped without close() (a loop left with break) must not
        # keep its stream open on the server.
        if hasattr(self, "_watchdog"):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<EventWatch {state} cursor={self._cursor} name={self._name!r}>"


class WatchMixin(Transport):
    def watch_model_events(
        self,
        name: str | None = None,
        *,
        after_event_id: int = 0,
        kinds: Iterable[str] = (),
        alias: str | None = None,
        from_beginning: bool = False,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> EventWatch:
        """Follow changes as they commit: an iterator of ``ModelEvent`` that
        does not end until closed (see ``EventWatch``).

        ``name`` limits it to one model (its history under that name, deleted
        or re-created models included); None: every model the caller may
        read. ``kinds`` keeps only those kinds of change (e.g.
        ``["alias_set", "version_stage_changed"]``), ``alias`` only moves and
        deletions of that alias.

        Where it starts: after ``after_event_id`` (a ``cursor`` saved
        earlier); with 0, from now, or with every recorded change first when
        ``from_beginning`` is true.

        The stream is opened before this returns, so a bad argument raises
        here (InvalidArgument naming the field, NotFound for a model with no
        history, PermissionDenied), and "from now" includes every change
        committed after this call (after the server's first answer, if it
        could not be reached then); one committed a moment before may be
        included too, as the server starts where its event feed stands.

        A stream silent for ``idle_timeout`` seconds (the server sends a
        heartbeat every few seconds) is dropped and reopened from the cursor.
        """
        if isinstance(kinds, str):
            raise TypeError("kinds must be a list of kinds, not one string")
        if from_beginning and after_event_id:
            raise ValueError("from_beginning and after_event_id exclude each other")
        if not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be positive, got {idle_timeout!r}")
        return EventWatch(
            self,
            name=name or "",
            kinds=tuple(kinds),
            alias=alias or "",
            after_event_id=after_event_id,
            from_beginning=from_beginning,
            idle_timeout=idle_timeout,
        )
