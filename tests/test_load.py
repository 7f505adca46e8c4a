"""Many clients at once on PostgreSQL through a real server process: zero errors, and every
acknowledged write is there exactly once afterwards (see support/load.py for the mix and
support/load_checks.py for what is checked).

The default run (CI) runs the short form: 16 clients for 5 s. The long form, 64 clients for 60 s,
is marked ``load`` and runs when asked for:

    .venv/bin/python -m pytest -m load tests/test_load.py
    REGISTRY_LOAD_SECONDS=300 REGISTRY_LOAD_CLIENTS=128 .venv/bin/python -m pytest -m load ...

Setting either variable also runs it without ``-m load``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from support.load import Ledger, LoadRunner, seed_models
from support.load_checks import verify
from support.server_process import server_process

from registry_client import RegistryClient

SECONDS_ENV = "REGISTRY_LOAD_SECONDS"
CLIENTS_ENV = "REGISTRY_LOAD_CLIENTS"
MODELS = 8

pytestmark = pytest.mark.slow


def _run_mixed_load(database_url: str, folder: Path, *, clients: int, seconds: float) -> None:
    prefix = f"load-{uuid.uuid4().hex[:8]}"
    ledger = Ledger(tuple(f"{prefix}-{i}" for i in range(MODELS)))
    with server_process(database_url, str(folder / "artifacts"), folder / "server.log") as server:
        with RegistryClient(server.target, actor="load-seed") as client:
            seed_models(client, ledger)
            result = LoadRunner(server.target, ledger, clients=clients).run(seconds)
            print(f"\n{result.table()}")
            problems = verify(client, ledger, complete=True)
        log = server.log()
    assert result.hung_clients == 0
    assert result.failures() == [], result.table()
    for op in ("resolve", "create", "transition", "alias_set", "alias_cas"):
        assert any(r.op == op and r.code == "OK" for r in result.records), f"no {op} succeeded"
    assert problems == []
    assert "unhandled error" not in log, log[-4000:]


def test_mixed_load_short(pg_database_url: str, tmp_path: Path) -> None:
    """The CI-sized run of the same workload: catches lost writes and races every run."""
    _run_mixed_load(pg_database_url, tmp_path, clients=16, seconds=5)


@pytest.mark.load
def test_mixed_load_long(
    pg_database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """64 clients for 60 s (or $REGISTRY_LOAD_CLIENTS for $REGISTRY_LOAD_SECONDS)."""
    asked = "load" in (request.config.getoption("markexpr") or "")
    if not asked and SECONDS_ENV not in os.environ and CLIENTS_ENV not in os.environ:
        pytest.skip(f"long load run: select it with -m load (or set {SECONDS_ENV})")
    _run_mixed_load(
        pg_database_url,
        tmp_path,
        clients=int(os.environ.get(CLIENTS_ENV, "64")),
        seconds=float(os.environ.get(SECONDS_ENV, "60")),
    )
