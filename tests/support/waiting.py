"""Waiting on a condition instead of sleeping a fixed time.

A fixed sleep is either too short on a loaded machine (the test flakes) or too long on an idle
one (the suite crawls). These poll for the condition itself and fail with a message that says
what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    *,
    interval: float = 0.02,
    what: str = "",
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises ``AssertionError`` naming ``what`` (or the predicate) after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            label = what or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"not true after {timeout:.1f} s: {label}")
        time.sleep(interval)


def now_ms() -> int:
    """The wall clock in epoch milliseconds, as the registry records times."""
    return time.time_ns() // 1_000_000


def clock_past(ms: int) -> None:
    """Return once the wall clock reads a later millisecond than ``ms``.

    For tests against the in-process server, whose changes take their times from the same
    wall clock: two changes made on either side of this call get distinct timestamps. It
    waits on the clock itself (at most about a millisecond), never a fixed time.
    """
    while now_ms() <= ms:
        time.sleep(0.0002)


def next_millisecond() -> None:
    """Return once the wall clock has moved to a later millisecond than now."""
    clock_past(now_ms())


class FakeClock:
    """Epoch milliseconds that move only when the test says so: what the domain's
    services and `registry_server.server.start(config, clock=...)` take as their clock
    (registry_server/domain/clock.py), so a test moves time instead of sleeping."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now
