"""`registry-server serve` as a separate process, for tests that load it, signal it or take
its database away, and for the benchmarks in bench/ (which import it with tests/ on
``sys.path``, as they import the load workload).

In its own process the server has its own interpreter lock and its own CPU share, as in
production, so dozens of client threads in the test process do not slow it down; and a test
can send it SIGTERM without touching pytest. A benchmark gets the same: the server's CPU and
memory are its own and can be read from /proc by its pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .net import free_port

#: What each of the server's processes logs (at INFO) once it listens.
SERVING_LINE = "serving modelregistry.v1"

#: Channel options that retry a refused connection every 50 ms (see wait_serving).
_EAGER_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 50),
]


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    target: str
    log_path: Path

    @property
    def pid(self) -> int:
        """The pid we started: with ``processes`` > 1 the supervisor, its children below it."""
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_serving(target: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Block until the health service answers SERVING (60 s at most)."""
    deadline = time.monotonic() + 60
    # After a refused connection a channel waits its reconnect backoff (1 s at first, grown
    # by 1.6 each time) before trying again, and every Check until then fails at once: a
    # server that listens 0.1 s after a failed try would be seen up to a second late.
    with grpc.insecure_channel(target, options=_EAGER_RECONNECT) as channel:
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


def wait_all_serving(expected: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """With ``--processes N``, block until every child listens (60 s at most).

    Health answers as soon as the first child does, and a client that connects then stays on
    that child for its whole channel's life, so a benchmark would measure one process of N.
    The children say they listen only in the log (at INFO).
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log_path.read_text()[-4000:]}")
        if log_path.read_text(errors="replace").count(SERVING_LINE) >= expected:
            return
        time.sleep(0.1)
    raise RuntimeError(f"not all {expected} server processes serving after 60 s")


@contextmanager
def server_process(
    database_url: str,
    artifact_store: str,
    log_path: Path | None = None,
    *,
    workers: int | None = 16,
    processes: int = 1,
    log_level: str = "WARNING",
    env: Mapping[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """Run the server on a free loopback port until the block ends (then SIGTERM, else kill).

    The database schema must be current (PostgreSQL is not migrated by `serve`). The server's
    output goes to ``log_path`` (a temporary file, removed afterwards, when None); WARNING
    keeps the one-line-per-call log out of the way while still showing "database
    unavailable" warnings and unhandled errors. ``workers=None`` leaves the thread count to
    the server's default. With ``processes`` > 1 the block starts only once every process
    serves, which needs ``log_level`` INFO (or DEBUG) to see them say so. REGISTRY_*
    variables of our own environment are not passed on: what runs is what the arguments
    and ``env`` say.
    """
    if processes > 1 and log_level.upper() not in ("INFO", "DEBUG"):
        raise ValueError(f"processes={processes} needs log_level INFO to see them all serve")
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
        "--database-url",
        database_url,
        "--artifact-store",
        artifact_store,
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    if processes != 1:
        command += ["--processes", str(processes)]
    with ExitStack() as stack:
        if log_path is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="registry-server-"))
            log_path = Path(folder) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        try:
            wait_serving(target, process, log_path)
            if processes > 1:
                wait_all_serving(processes, process, log_path)
            yield ServerProcess(process, target, log_path)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
