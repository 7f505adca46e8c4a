"""The one clock of the domain: epoch milliseconds, as the API speaks."""

from __future__ import annotations

import time
from collections.abc import Callable

# What the domain's services take as `clock=`: tests pass a fake one instead
# of sleeping until the next millisecond.
Clock = Callable[[], int]


def now_ms() -> int:
    """The time recorded for a change. Mutations read it after taking the
    model's row lock, so that on one model the order of event times is the
    order of commits (and of event ids), which point-in-time queries rely on."""
    return time.time_ns() // 1_000_000
