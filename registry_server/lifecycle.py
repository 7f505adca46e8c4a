"""Where a server process is in its life: serving, or draining towards a stop.

One `ServingState` per process, made in `server.start()` and kept on the
RunningServer. Readers (the side port's /healthz, a drain on SIGTERM) ask it
rather than each keeping a flag of their own, so "draining" means the same
thing everywhere: once set it stays set, and /healthz answers 503 from that
moment, before in-flight calls have finished, so a load balancer stops
sending new work while the old work completes.

The database check is injected (`database_ok`) because the probe needs a
cheap round trip under a short timeout, which only the store may issue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds the health probe gives the database to answer ``SELECT 1``.
HEALTH_DATABASE_TIMEOUT = 2.0


class BoundedProbe:
    """Runs a blocking check (``SELECT 1``) with a time limit, in at most one
    background thread at a time.

    A database that stops answering (a partition, a hung host) blocks the
    check until TCP gives up, far longer than a probe may take. So the check
    runs in a thread and the caller waits ``timeout`` for it; a caller that
    arrives while a check is still running waits for that same check rather
    than starting another, so a probe every second against a dead database
    holds one thread, not one per probe.
    """

    def __init__(self, check: Callable[[], object]) -> None:
        self._check = check
        self._lock = threading.Lock()
        # The check in flight: its end, and its answer once it has one.
        self._running: tuple[threading.Event, list[bool]] | None = None

    def __call__(self, timeout: float) -> bool:
        with self._lock:
            running = self._running
            if running is None:
                running = self._running = (threading.Event(), [])
                threading.Thread(
                    target=self._run, args=running, name="health-probe", daemon=True
                ).start()
        done, answer = running
        return done.wait(timeout) and answer == [True]

    def _run(self, done: threading.Event, answer: list[bool]) -> None:
        try:
            self._check()
            answer.append(True)
        except Exception:
            answer.append(False)
        with self._lock:
            self._running = None
        done.set()


@dataclass(frozen=True)
class Health:
    """One answer of the health probe: ``ok`` is what a load balancer reads,
    ``reason`` what an operator reads ("serving", "draining", "database ...")."""

    ok: bool
    reason: str


class ServingState:
    """A thread-safe draining flag plus the database probe /healthz needs."""

    def __init__(
        self,
        database_ok: Callable[[float], bool] | None = None,
        database_timeout: float = HEALTH_DATABASE_TIMEOUT,
    ) -> None:
        self._draining = threading.Event()
        self._database_ok = database_ok
        self.database_timeout = database_timeout
        # Called once, by the first `begin_draining`, after the flag is set.
        self._on_drain: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def begin_draining(self) -> bool:
        """Mark the process as draining; True the first time only, so a
        second SIGTERM (or stop() after a signal handler) does not repeat
        the drain's side effects."""
        with self._lock:
            if self._draining.is_set():
                return False
            self._draining.set()
            callbacks = list(self._on_drain)
        for callback in callbacks:
            callback()
        return True

    def on_drain(self, callback: Callable[[], None]) -> None:
        """Run `callback` when draining begins (at once if it already has)."""
        with self._lock:
            if not self._draining.is_set():
                self._on_drain.append(callback)
                return
        callback()

    def wait_draining(self, timeout: float | None = None) -> bool:
        return self._draining.wait(timeout)

    def health(self) -> Health:
        """What /healthz reports: draining wins over everything; then the
        database must answer within `database_timeout`."""
        if self.draining:
            return Health(False, "draining")
        if self._database_ok is not None:
            try:
                answered = self._database_ok(self.database_timeout)
            except Exception as exc:  # the probe reports, it never raises
                return Health(False, f"database check failed: {type(exc).__name__}")
            if not answered:
                return Health(False, "database not answering")
        return Health(True, "serving")
