"""bench/scale.py at a tiny size: it grows a database in two steps, measures every operation
at both sizes and concurrencies, captures the server's reads and EXPLAINs them.

Only that it completes and reports every figure is checked; the timings are not judged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = (
    "get by alias",
    "resolve models:/m@champion",
    "get version",
    "search versions of one model (page 100)",
    "search models name LIKE prefix (page 100)",
    "search models by tag (page 100)",
    "history of one model (ListModelEvents)",
    "watch backlog, 100 events from a cursor",
)


def test_scale_bench_reports_every_operation_at_every_size(
    pg_server_url: str, tmp_path: Path
) -> None:
    figures = tmp_path / "scale.json"
    env = {**os.environ, "REGISTRY_BENCH_DATABASE_URL": pg_server_url}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "scale.py"),
            "--models=100",
            "--versions=500,1000",
            "--seconds=0.3",
            "--warmup=0.1",
            "--concurrency=1,4",
            "--backlog=100",
            f"--json={figures}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    for heading in ("Growth against 500 versions", "Database size", "EXPLAIN (ANALYZE, BUFFERS)"):
        assert heading in out
    assert "targets:" in out

    report = json.loads(figures.read_text())
    assert report["steps"] == [500, 1000]
    cells = {(c["operation"], c["concurrency"], c["versions"]): c for c in report["cells"]}
    for operation in OPERATIONS:
        assert operation in out
        for concurrency in (1, 4):
            for size in (500, 1000):
                cell = cells[(operation, concurrency, size)]
                assert cell["calls"] > 0 and cell["errors"] == 0, cell
                assert cell["p50_ms"] > 0
    assert [s["versions"] for s in report["sizes"]] == [500, 1000]
    assert all(s["per_version"] > 0 and s["per_event"] > 0 for s in report["sizes"])
    # The model, the alias and the version reads were captured and explained at both sizes.
    explained = {op for q in report["queries"] for op in q["operations"]}
    assert {"get by alias", "get version", "history of one model (ListModelEvents)"} <= explained
    assert all(len(q["plans"]) == 2 for q in report["queries"])
