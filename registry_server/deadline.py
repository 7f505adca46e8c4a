"""The deadline of the call being served, for the layers below the API.

The error interceptor (api/interceptors.py) records when the call must be
over; the store reads it to bound each write transaction on PostgreSQL
(`SET LOCAL statement_timeout` and `lock_timeout`, store/database.py), so a
query or a lock wait does not hold a worker after the caller gave up. A
context variable, because the layers between (domain, store) have no reason
to carry the gRPC context: each call runs on one worker thread, whose value
is set when the call starts and cleared when it ends. Recording it costs
about a microsecond per call, the reads never look at it.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

# time.monotonic() by which the call must be over; None: no deadline (or no call).
_deadline: ContextVar[float | None] = ContextVar("registry_call_deadline", default=None)


def begin(time_remaining: float | None) -> None:
    """The call being served has `time_remaining` seconds (None: no deadline)."""
    _deadline.set(None if time_remaining is None else time.monotonic() + time_remaining)


def end() -> None:
    _deadline.set(None)


def remaining() -> float | None:
    """Seconds left to the current call's deadline (negative once past), or None."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
