"""Progress display for the ``registry`` CLI's uploads and downloads.

A one-line textual bar on stderr, with no third-party dependency: transfers
report bytes through the client's ``progress(done, total)`` callback and the
bar redraws in place. It draws only when the stream is a terminal, so CI logs
and pipes never fill up with carriage returns, and at most ten times a second,
so a fast local transfer does not spend its time writing to the terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from registry_client.cli._format import fmt_bytes

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """``label [#####-----]  42%  12.0 MiB / 40.0 MiB`` redrawn in place on a terminal.

    Draws nothing when ``stream`` is not a terminal. Pass the instance as a
    ``progress`` callback and ``close()`` it afterwards to end the line. The
    client calls it from worker threads, one call at a time.
    """

    WIDTH = 30
    INTERVAL = 0.1  # seconds between redraws: at most ~10 per second

    def __init__(
        self, stream: TextIO, label: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._label = label
        self._clock = clock
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._last_draw: float | None = None
        self._last_len = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self._clock()
        # The final update is always drawn, so the bar never stops short of 100%.
        recent = self._last_draw is not None and now - self._last_draw < self.INTERVAL
        if done < total and recent:
            return
        self._last_draw = now
        fraction = 1.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
        filled = int(self.WIDTH * fraction)
        line = (
            f"{self._label} [{'#' * filled}{'-' * (self.WIDTH - filled)}] "
            f"{fraction:4.0%}  {fmt_bytes(done)} / {fmt_bytes(total)}"
        )
        # Pad over the previous line: it may have been longer ("999.9 KiB").
        self._stream.write("\r" + line.ljust(self._last_len))
        self._stream.flush()
        self._last_len = len(line)

    def close(self) -> None:
        """End the bar's line, so that what follows starts on a fresh one."""
        if self._last_len:
            self._stream.write("\n")
            self._stream.flush()
            self._last_len = 0


@contextmanager
def progress_bar(label: str, stream: TextIO | None = None) -> Iterator[ProgressBar]:
    """A bar on ``stream`` (default: the current ``sys.stderr``), ended on exit,
    also when the transfer fails, so the error message gets its own line."""
    bar = ProgressBar(sys.stderr if stream is None else stream, label)
    try:
        yield bar
    finally:
        bar.close()
