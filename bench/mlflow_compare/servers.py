"""Starting and stopping the systems under test: `mlflow server` (REST over uvicorn) in one
setup per `--mlflow-workers` entry, and `registry-server serve` through the test suite's
server-process helper (via bench/harness.py), each on its own throwaway database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from harness import ServerProcess, free_port, process_tree, server_process
from support.scrape import scrape, total

from registry_server import migrate
from registry_server.store.database import make_engine


@contextlib.contextmanager
def our_server(
    database_url: str,
    artifact_store: str,
    *,
    processes: int,
    workers: int,
    production: bool,
) -> Iterator[ProductionServer]:
    """`registry-server serve` in its own process(es) on a freshly upgraded database (`serve`
    does not migrate PostgreSQL). It logs at INFO, the server's default, which is also what
    shows each of `processes` serving: the block starts once they all do."""
    engine = make_engine(database_url, pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()
    token = http_port = None
    env: dict[str, str] = {}
    if production:
        token = _writer_token(database_url)
        http_port = free_port()
        env = {"REGISTRY_REQUIRE_AUTH": "true", "REGISTRY_HTTP_LISTEN": f"127.0.0.1:{http_port}"}
    with server_process(
        database_url,
        artifact_store,
        workers=workers,
        processes=processes,
        log_level="INFO",
        env=env,
    ) as server:
        yield ProductionServer(server, token or "", http_port)


@dataclass
class ProductionServer:
    """Our server and how it was set up: `token` (a global writer's, as a CI pipeline
    would hold) when it requires authentication, `http_port` when its metrics are on."""

    process: ServerProcess
    token: str
    http_port: int | None

    def counted_calls(self) -> float:
        """Calls the metrics counted, summed over codes, methods and processes."""
        assert self.http_port is not None
        return total(scrape(self.http_port), "grpc_server_handled_total")


def _writer_token(database_url: str) -> str:
    """A writer's token, made with `registry-server tokens create` (the secret is the
    last line it prints)."""
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry_server.cli",
            "--log-level",
            "WARNING",
            "tokens",
            "create",
            "bench-ci",
            "--role",
            "writer",
            "--database-url",
            database_url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return made.stdout.strip().splitlines()[-1]


class MlflowServer:
    """`mlflow server` on a free loopback port, in a session of its own.

    Its own session keeps the terminal's Ctrl-C from reaching it before we are done with it,
    and makes its whole tree (the CLI, uvicorn and its workers, the job runner and its huey
    consumers) one process group that `stop` can end together.
    """

    def __init__(self, label: str, database_url: str, folder: Path, workers: int | None) -> None:
        self.label = label
        self.database_url = database_url
        self.folder = folder
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "mlflow.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        (self.folder / "artifacts").mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.database_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--default-artifact-root",
            str(self.folder / "artifacts"),
        ]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        # MLFLOW_* in our environment (MLFLOW_WORKERS, a tracking URI) would change the setup.
        env = {
            k: v for k, v in os.environ.items() if not k.upper().startswith(("MLFLOW_", "_MLFLOW_"))
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _log_tail(self) -> str:
        return self._log()[-4000:]

    def wait_ready(self, timeout: float = 300) -> None:
        """Until /health answers 200 and every uvicorn worker has finished starting: /health
        is answered by whichever worker is up first, and a worker still importing MLflow
        when timing starts would make the first cell measure its start-up."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        workers = self.workers or 4
        with requests.Session() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.label} exited with {self.process.returncode}:\n{self._log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.label} not ready after {timeout:.0f} s:\n{self._log_tail()}"
                    )
                started = self._log().count("Application startup complete")
                healthy = False
                with contextlib.suppress(requests.RequestException):
                    healthy = session.get(f"{self.url}/health", timeout=2).status_code == 200
                if healthy and started >= workers:
                    return
                time.sleep(0.5)

    def _group_members(self) -> list[int]:
        return process_tree(self.pid) if self.process else []

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL for whatever is left after 15 s, then
        remove the job queue folder MLflow leaves behind in /dev/shm."""
        if self.process is None:
            return
        leftovers = self._huey_folders()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._group_alive():
            time.sleep(0.2)
        if self._group_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)
        self.process = None

    def _group_alive(self) -> bool:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _huey_folders(self) -> list[Path]:
        """The folders MLflow's job runner made with mkdtemp, read from its processes'
        environment (it does not remove them when it stops)."""
        found: set[Path] = set()
        for pid in self._group_members():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for entry in environ:
                if entry.startswith(b"_MLFLOW_HUEY_STORAGE_PATH="):
                    path = Path(entry.split(b"=", 1)[1].decode(errors="replace"))
                    if path.name.startswith("tmp") and path.parent in (
                        Path("/dev/shm"),
                        Path(tempfile.gettempdir()),
                    ):
                        found.add(path)
        return sorted(found)


@contextlib.contextmanager
def mlflow_server(
    label: str, database_url: str, folder: Path, workers: int | None
) -> Iterator[MlflowServer]:
    """Start (without waiting for it: MLflow takes long to start) and always stop."""
    server = MlflowServer(label, database_url, folder, workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def stop_all(servers: Sequence[MlflowServer]) -> None:
    """Stop the MLflow servers in parallel: each takes several seconds to wind down."""
    threads = [threading.Thread(target=server.stop) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
