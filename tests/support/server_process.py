"""`registry-server serve` as a separate process, for tests that load it, signal it or take
its database away.

In its own process the server has its own interpreter lock and its own CPU share, as in
production, so dozens of client threads in the test process do not slow it down; and a test
can send it SIGTERM without touching pytest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .net import free_port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    target: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_serving(target: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Block until the health service answers SERVING (60 s at most)."""
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
                )
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
    raise RuntimeError(f"server not serving after 60 s:\n{log_path.read_text()[-4000:]}")


@contextmanager
def server_process(
    database_url: str,
    artifact_store: str,
    log_path: Path,
    *,
    workers: int = 16,
    log_level: str = "WARNING",
    env: Mapping[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """Run the server on a free loopback port until the block ends (then SIGTERM, else kill).

    The database schema must be current (PostgreSQL is not migrated by `serve`). The server's
    output goes to ``log_path``; WARNING keeps the one-line-per-call log out of the way while
    still showing "database unavailable" warnings and unhandled errors.
    """
    target = f"127.0.0.1:{free_port()}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    environment.update(env or {})
    command = [
        sys.executable,
        "-m",
        "registry_server.cli",
        "--log-level",
        log_level,
        "serve",
        "--listen",
        target,
        "--workers",
        str(workers),
        "--database-url",
        database_url,
        "--artifact-store",
        artifact_store,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    try:
        wait_serving(target, process, log_path)
        yield ServerProcess(process, target, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
