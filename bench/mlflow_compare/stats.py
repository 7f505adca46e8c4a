"""Statistics: what workers count while a cell runs, the CPU the servers and their database
backends use meanwhile, and the figures of a cell made from both.

CPU per call is reported beside throughput because on a busy machine (the clients share
its cores with the servers) it is the steadier of the two.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from harness import (
    cpu_delta,
    cpu_seconds,
    percentile,
    postgres_backend_pids,
    postgres_sessions,
    process_tree,
)
from transfer.measure import proc_status_kib

from .apis import System

#: Distinct error messages kept per cell; the rest are only counted.
MAX_MESSAGES = 20


@dataclass
class CellPart:
    """What one worker (or, merged, one process or a whole cell) measured."""

    latencies: list[float] = field(default_factory=list)  # calls completed in the window
    errors: int = 0  # failed calls among them
    warmup_calls: int = 0
    warmup_errors: int = 0
    late_calls: int = 0  # completed after the window closed; not counted
    late_errors: int = 0
    acknowledged: int = 0  # successful calls in total (warm-up and late ones included)
    messages: Counter[str] = field(default_factory=Counter)

    def add(self, other: CellPart) -> None:
        self.latencies.extend(other.latencies)
        self.errors += other.errors
        self.warmup_calls += other.warmup_calls
        self.warmup_errors += other.warmup_errors
        self.late_calls += other.late_calls
        self.late_errors += other.late_errors
        self.acknowledged += other.acknowledged
        for message, count in other.messages.items():
            if message in self.messages or len(self.messages) < MAX_MESSAGES:
                self.messages[message] += count


@dataclass(frozen=True)
class CpuSample:
    server: dict[int, float]
    database: dict[int, float] | None
    sessions: int | None
    # Resident memory of each process of the server's tree when sampled, MiB.
    rss_mib: dict[int, float] = field(default_factory=dict)


class CpuMeter:
    """CPU used by a system's process tree and by its PostgreSQL backends (Linux, local
    PostgreSQL; database figures are None when its backends cannot be read).

    Backends that connect and exit between two samples are not seen, so the database
    figure is a lower bound for a system that opens connections per request; the number
    of sessions opened in between is sampled too, to show when that happens.
    """

    def __init__(self, admin: sa.Engine) -> None:
        self._admin = admin

    def sample(self, system: System) -> CpuSample:
        tree = process_tree(system.root_pid)
        server = cpu_seconds(tree)
        database: dict[int, float] | None = None
        with contextlib.suppress(Exception):
            database = cpu_seconds(postgres_backend_pids(self._admin, system.database)) or None
        rss = {pid: kib / 1024 for pid in tree if (kib := proc_status_kib(pid, "VmRSS"))}
        return CpuSample(server, database, postgres_sessions(self._admin, system.database), rss)


def wait_until_idle(
    root_pids: Sequence[int], *, cores: float = 0.1, quiet_for: float = 3.0, timeout: float = 240
) -> float | None:
    """Wait until the servers' process trees use under `cores` CPUs for `quiet_for` seconds.

    `mlflow server` keeps starting helpers (a job runner and seven huey consumers, each
    importing MLflow) after it answers /health; on a small machine that takes tens of
    seconds of CPU, which would otherwise land on whatever is measured first.
    Returns the seconds waited, or None on timeout.
    """
    started = time.monotonic()
    quiet_since = started
    before = cpu_seconds([p for root in root_pids for p in process_tree(root)])
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        after = cpu_seconds([p for root in root_pids for p in process_tree(root)])
        if cpu_delta(before, after) > cores * 0.5:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_for:
            return time.monotonic() - started
        before = after
    return None


@dataclass
class CellResult:
    """The figures of one (operation, concurrency, system) cell."""

    op: str
    concurrency: int
    system: str
    seconds: float
    calls: int  # completed in the timed window, failed ones included
    ok: int
    errors: int  # failed calls in the timed window
    warmup_calls: int
    warmup_errors: int
    late_calls: int
    late_errors: int
    acknowledged: int
    ops_per_s: float  # successful calls per second of the window
    p50_ms: float | None  # None: no call completed inside the window
    p99_ms: float | None
    mean_ms: float | None
    server_cpu_s: float | None
    db_cpu_s: float | None
    db_connections: int | None  # backends of the system's database at the end of the window
    db_sessions_opened: int | None  # connections opened during the window
    error_messages: list[tuple[str, int]]
    # RSS of each of the server's processes at the end of the window, largest first, MiB.
    server_rss_mib: list[float] = field(default_factory=list)

    @property
    def all_errors(self) -> int:
        return self.errors + self.warmup_errors + self.late_errors

    def cpu_ms_per_call(self, which: str) -> float | None:
        used = self.server_cpu_s if which == "server" else self.db_cpu_s
        if used is None or not self.ok:
            return None
        return used / self.ok * 1000


def cell_result(
    op: str,
    concurrency: int,
    system: str,
    seconds: float,
    part: CellPart,
    before: CpuSample,
    after: CpuSample,
) -> CellResult:
    """The figures of a cell from what its workers measured in a `seconds` window and the
    CPU samples taken when the window opened and closed."""
    latencies = part.latencies
    calls = len(latencies)
    ok = calls - part.errors
    db_cpu = None
    if before.database is not None and after.database is not None:
        db_cpu = cpu_delta(before.database, after.database)
    opened = None
    if before.sessions is not None and after.sessions is not None:
        opened = after.sessions - before.sessions
    return CellResult(
        op=op,
        concurrency=concurrency,
        system=system,
        seconds=seconds,
        calls=calls,
        ok=ok,
        errors=part.errors,
        warmup_calls=part.warmup_calls,
        warmup_errors=part.warmup_errors,
        late_calls=part.late_calls,
        late_errors=part.late_errors,
        acknowledged=part.acknowledged,
        ops_per_s=ok / seconds,
        p50_ms=statistics.median(latencies) * 1000 if latencies else None,
        p99_ms=percentile(latencies, 0.99) * 1000 if latencies else None,
        mean_ms=statistics.fmean(latencies) * 1000 if latencies else None,
        server_cpu_s=cpu_delta(before.server, after.server) if after.server else None,
        db_cpu_s=db_cpu,
        db_connections=None if after.database is None else len(after.database),
        db_sessions_opened=opened,
        error_messages=part.messages.most_common(),
        server_rss_mib=sorted(after.rss_mib.values(), reverse=True),
    )
