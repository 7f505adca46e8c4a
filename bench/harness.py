"""What every benchmark here needs: a throwaway PostgreSQL database, our
server as a separate process (so its CPU and memory are its own, as in
production), timing loops and a printed table.

Benchmarks are scripts, not tests: they print figures for people to compare
and never assert on timings.

The server process comes from the test suite's helper (tests/support/server_process.py),
re-exported here: one copy of starting, health-waiting and stopping `registry-server serve`
for tests and benchmarks alike. Benchmarks run from a checkout, where tests/ sits beside
bench/, so this module puts tests/ on `sys.path`, as bench/load.py already did for the load
workload.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.net import free_port as free_port
from support.net import wait_for_port as wait_for_port
from support.server_process import ServerProcess as ServerProcess
from support.server_process import server_process as server_process

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def throwaway_database(admin_url: str, keep: bool = False) -> Iterator[str]:
    """A fresh database on the server of `admin_url`, dropped afterwards."""
    name = f"registry_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(admin_url).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Timing:
    name: str
    calls: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def ops_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def time_calls(
    name: str,
    call: Callable[[], object],
    *,
    duration: float,
    warmup: float = 1.0,
    min_calls: int = 20,
) -> Timing:
    """Call `call` back to back for `duration` seconds after a warm-up."""
    end_warmup = time.monotonic() + warmup
    while time.monotonic() < end_warmup:
        call()
    latencies: list[float] = []
    errors = 0
    start = time.monotonic()
    while time.monotonic() - start < duration or len(latencies) < min_calls:
        t0 = time.perf_counter()
        try:
            call()
        except Exception:
            errors += 1
        latencies.append(time.perf_counter() - t0)
    elapsed = time.monotonic() - start
    return Timing(
        name=name,
        calls=len(latencies),
        errors=errors,
        seconds=elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def write_json(path: str | None, payload: object) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")


def _jsonable(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


# -- machine and process accounting (added for bench/vs_mlflow.py) -------------------------


def git_commit(folder: Path | None = None) -> dict[str, object]:
    """The commit the figures were measured on, and whether the tree had local changes.

    Figures without the code they came from cannot be compared later; a dirty tree is
    flagged because the commit alone then does not describe what ran.
    """
    folder = folder or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def machine_info() -> dict[str, object]:
    """What a reader needs to judge the figures: cores, OS, Python and how busy the box was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": load,
        "git": git_commit(),
    }


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(root_pid: int) -> list[int]:
    """`root_pid` and all its descendants (Linux /proc; [] where there is none).

    Servers such as `mlflow server` fork worker and helper processes; their CPU counts as the
    server's, so accounting has to follow the whole tree, not the one pid we started.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    """User + system CPU seconds used so far by each pid that still exists (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used: dict[int, float] = {}
    for pid in pids:
        fields = _proc_stat(pid)
        if fields is not None:
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_delta(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds spent between two `cpu_seconds` samples.

    A process that appeared in between (a new worker, a new database connection) counts in
    full, since all its CPU was spent after the first sample; one that vanished is lost.
    """
    return sum(max(0.0, used - before.get(pid, 0.0)) for pid, used in after.items())


def postgres_backend_pids(admin: sa.Engine, database: str) -> list[int]:
    """Pids of the PostgreSQL backends connected to `database`.

    The database does much of a registry's work; on a local server its backends are
    ordinary processes whose CPU can be read like the registry's own.
    """
    with admin.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": database}
        )
        return [int(row[0]) for row in rows]


def postgres_sessions(admin: sa.Engine, database: str) -> int | None:
    """Sessions ever opened to `database` (pg_stat_database.sessions, PostgreSQL 14+).

    A backend that connects and exits between two CPU samples is invisible to
    `cpu_seconds`; the growth of this counter shows how many such connections there were.
    """
    with contextlib.suppress(sa.exc.DBAPIError), admin.connect() as conn:
        value = conn.execute(
            sa.text("SELECT sessions FROM pg_stat_database WHERE datname = :name"),
            {"name": database},
        ).scalar()
        return None if value is None else int(value)
    return None


def analyze_database(url: str) -> None:
    """VACUUM ANALYZE a database: freshly seeded tables have no planner statistics until
    autovacuum gets to them, and a plan chosen without them can be slower by orders of
    magnitude than the one a production database (long since analysed) would use."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
