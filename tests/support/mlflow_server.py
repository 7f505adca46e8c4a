"""A real `mlflow server` process (SQLite backend, local artifact root) for the
importer's tests, and helpers that populate its registry through MlflowClient."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from support.net import free_port


@dataclass(frozen=True)
class MlflowServer:
    uri: str
    root: Path


def _answers(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@contextmanager
def mlflow_server(root: Path, timeout: float = 120.0) -> Iterator[MlflowServer]:
    """`mlflow server` on a free port, answering before the block starts, killed
    (its whole process group) after it."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (root / "mlflow-server.log").open("wb")
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--default-artifact-root",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": "", "MLFLOW_REGISTRY_URI": ""}
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (root / "mlflow-server.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"mlflow server did not start:\n{output}")
            time.sleep(0.25)
        yield MlflowServer(uri, root)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
