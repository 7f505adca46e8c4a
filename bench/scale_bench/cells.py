"""One measurement cell: an operation timed at one concurrency against a running server."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import Timing, percentile, server_process
from sql_plans import Call

from registry_client import RegistryClient


@dataclass
class Cell:
    """One operation at one concurrency and one size, and how it timed."""

    operation: str
    concurrency: int
    versions: int
    timing: Timing


def time_concurrent(
    target: str,
    name: str,
    call: Call,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    seed: int,
) -> Timing:
    """`concurrency` threads, each with its own client (and channel), calling back to back
    for `warmup` seconds and then `duration` seconds timed; every call of the timed window
    counts, with its latency."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    barrier = threading.Barrier(concurrency + 1, timeout=120)
    window: dict[str, float] = {}

    def work(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        with RegistryClient(target, timeout=120) as client:
            barrier.wait()
            while time.monotonic() < window["start"]:
                try:
                    call(client, rng)
                except Exception:
                    errors[index] += 1
            while time.monotonic() < window["end"]:
                t0 = time.perf_counter()
                try:
                    call(client, rng)
                except Exception:
                    errors[index] += 1
                latencies[index].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    window["start"] = time.monotonic() + warmup
    window["end"] = window["start"] + duration
    barrier.wait()
    for thread in threads:
        thread.join()
    flat = [x for per in latencies for x in per]
    if not flat:
        flat = [float("nan")]
    return Timing(
        name=name,
        calls=len(flat),
        errors=sum(errors),
        # The last call may end after the window: count the time it really took.
        seconds=max(duration, time.monotonic() - window["start"]),
        p50_ms=percentile(flat, 0.5) * 1000,
        p99_ms=percentile(flat, 0.99) * 1000,
    )


@contextmanager
def serving(url: str, folder: Path) -> Iterator[str]:
    """`registry-server serve` on the database in its own process; yields its target."""
    with server_process(url, str(folder / "artifacts"), workers=None) as server:
        yield server.target
