"""`registry-server` as a user first meets it: `serve --help` and the first lines of `serve`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from support.net import free_port
from support.server_process import wait_serving

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "registry-server"


def _registry_server(*args: str) -> list[str]:
    """The installed console script when there is one, else the same entry point by module."""
    if SCRIPT.exists():
        return [str(SCRIPT), *args]
    return [sys.executable, "-m", "registry_server.cli", *args]


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _variables_read_by_the_server() -> set[str]:
    """Every REGISTRY_* name in the server's code, plus the AWS_* variables it reads."""
    found: set[str] = set()
    for path in (ROOT / "registry_server").rglob("*.py"):
        text = path.read_text()
        found |= {name.rstrip("_") for name in re.findall(r"\bREGISTRY_[A-Z0-9_]+", text)}
        found |= set(re.findall(r"environ\.get\(\s*\"(AWS_[A-Z_]+)\"", text))
    return found


def test_serve_help_lists_every_environment_variable_the_server_reads() -> None:
    variables = _variables_read_by_the_server()
    # The scan finds what it must: the settings named by flags and those without one.
    assert {"REGISTRY_DATABASE_URL", "REGISTRY_PREPARED_STATEMENTS", "AWS_REGION"} <= variables
    result = subprocess.run(
        _registry_server("serve", "--help"),
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = set(re.findall(r"^ {2}([A-Z][A-Z0-9_]+) ", result.stdout, flags=re.M))
    assert sorted(variables - listed) == []


def test_embedded_start_names_the_sqlite_file_without_alembic_chatter(tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _registry_server("serve", "--listen", target),
            cwd=tmp_path,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_serving(target, process, log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    lines = log_path.read_text().splitlines()
    database = (tmp_path / "registry-data" / "registry.db").resolve()
    assert database.exists()
    assert f"embedded SQLite database {database} " in lines[0]
    assert str((tmp_path / "registry-data" / "artifacts").resolve()) in lines[0]
    assert any("database schema upgraded from empty to " in line for line in lines)
    assert not [line for line in lines if " alembic" in line]
