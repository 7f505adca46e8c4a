"""Running transfers side by side: one failure cancels the rest, and bytes
are counted for a progress callback from any thread."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import grpc

CHUNK_SIZE = 1 << 20

#: ``progress(bytes_done, bytes_total)``, called from worker threads (one
#: call at a time) as bytes are hashed, sent or received.
ProgressCallback = Callable[[int, int], None]

T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """A transfer stopped because another one failed (never reaches callers)."""


class CancelScope:
    """Cancels the in-flight calls of a group of transfers at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: weakref.WeakSet[Any] = weakref.WeakSet()
        self.cancelled = False

    def register(self, call: grpc.Future[Any]) -> None:
        with self._lock:
            if not self.cancelled:
                self._calls.add(call)
                return
        call.cancel()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            calls = list(self._calls)
        for call in calls:
            call.cancel()

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled()


def run_parallel(
    fn: Callable[[T], R], items: Sequence[T], max_workers: int, scope: CancelScope
) -> list[R]:
    """``[fn(item) for item in items]`` on up to ``max_workers`` threads.

    The first failure (or a KeyboardInterrupt) cancels the scope and the
    items not started yet, waits for the running ones to stop, and is raised.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
    if not items:
        return []
    workers = min(max_workers, len(items))
    with ThreadPoolExecutor(workers, thread_name_prefix="registry-transfer") as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                error = future.exception() if future.done() else None
                if error is not None:
                    raise error
        except BaseException:
            scope.cancel()
            for future in futures:
                future.cancel()
            raise
    return [future.result() for future in futures]


class Progress:
    """Thread-safe byte counter feeding a ``ProgressCallback``."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self._lock = threading.Lock()
        self._callback = callback
        self.total = total
        self.done = 0

    def add(self, n: int) -> None:
        if self._callback is None or n == 0:
            return
        with self._lock:
            self.done += n
            self._callback(self.done, self.total)
