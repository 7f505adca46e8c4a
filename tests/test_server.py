"""The server process: defaults, health, reflection, call log, graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from support.net import free_port, wait_for_port
from support.server_process import server_process as registry_process
from support.waiting import wait_until

from registry_client import RegistryClient, RegistryError, Unavailable
from registry_server.config import DEFAULT_LISTEN, ServerConfig


def test_health_service_reports_serving(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "modelregistry.v1.ModelRegistry"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in replies[0].list_services_response.service}
    assert "modelregistry.v1.ModelRegistry" in names
    assert "grpc.health.v1.Health" in names


def test_defaults_are_embedded_and_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("REGISTRY_DATABASE_URL", "REGISTRY_LISTEN", "REGISTRY_WORKERS"):
        monkeypatch.delenv(var, raising=False)
    config = ServerConfig.from_env()
    assert config.listen == DEFAULT_LISTEN == "127.0.0.1:50051"
    assert config.database_url == "sqlite:///registry-data/registry.db"
    monkeypatch.setenv("REGISTRY_DATABASE_URL", "postgresql+psycopg2://u@h/db")
    assert ServerConfig.from_env().database_url == "postgresql+psycopg2://u@h/db"
    assert ServerConfig.from_env("sqlite:///x.db").database_url == "sqlite:///x.db"


@pytest.fixture
def server_process(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """`registry-server serve` with no database flag, run in an empty folder
    (extra flags from an indirect parameter)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    extra = list(getattr(request, "param", ()))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry_server.cli",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30, process=proc)
        yield proc, port, tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _log_after_calls(proc: subprocess.Popen[str], port: int) -> str:
    with RegistryClient(f"127.0.0.1:{port}") as c:
        c.create_registered_model("embedded")
        with pytest.raises(Exception, match="NOT_FOUND"):
            c.get_registered_model("missing")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    return proc.stderr.read() if proc.stderr else ""


@pytest.mark.slow
def test_serve_with_no_flags_uses_registry_data_and_logs_failed_calls(
    server_process: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, folder = server_process
    log = _log_after_calls(proc, port)
    assert (folder / "registry-data" / "registry.db").exists()
    assert "/modelregistry.v1.ModelRegistry/GetRegisteredModel NOT_FOUND" in log
    assert "ms" in log.split("GetRegisteredModel NOT_FOUND")[1].splitlines()[0]
    # Successful calls are not logged by default (see --access-log).
    assert "CreateRegisteredModel OK" not in log


@pytest.mark.slow
@pytest.mark.parametrize("server_process", [["--access-log"]], indirect=True)
def test_access_log_logs_every_call(
    server_process: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, _ = server_process
    log = _log_after_calls(proc, port)
    assert "/modelregistry.v1.ModelRegistry/CreateRegisteredModel OK" in log
    assert "/modelregistry.v1.ModelRegistry/GetRegisteredModel NOT_FOUND" in log


@pytest.mark.slow
def test_sigterm_lets_in_flight_calls_finish(
    server_process: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, folder = server_process
    target = f"127.0.0.1:{port}"
    with RegistryClient(target) as c:
        c.create_registered_model("slow")
    # Hold the SQLite write lock so the next write call blocks inside the server.
    blocker = sqlite3.connect(folder / "registry-data" / "registry.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    result: dict[str, object] = {}

    def in_flight() -> None:
        with RegistryClient(target, timeout=30, max_attempts=1) as c:
            try:
                result["version"] = c.create_model_version("slow", source="s3://a").version
            except Exception as exc:
                result["error"] = exc

    thread = threading.Thread(target=in_flight)
    thread.start()
    time.sleep(1.0)  # the call is now waiting on the lock inside the server
    proc.send_signal(signal.SIGTERM)

    def refused() -> bool:
        with RegistryClient(target, timeout=2, max_attempts=1) as late:
            try:
                late.get_registered_model("slow")
            except Unavailable:
                return True
            except RegistryError as exc:
                # A call that arrives in the instant gRPC's stop() begins is
                # cancelled instead; the refusal that follows is what is checked.
                if exc.code != grpc.StatusCode.CANCELLED:
                    raise
        return False

    # New calls are refused while the server drains.
    wait_until(refused, 10, what="a new call refused after SIGTERM")
    blocker.execute("COMMIT")
    blocker.close()
    thread.join(timeout=30)
    assert result == {"version": 1}
    assert proc.wait(timeout=20) == 0


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def _read_log_until(proc: subprocess.Popen[str], text: str, count: int) -> str:
    """Lines of the server's log up to the `count`-th holding `text`."""
    seen: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if sum(text in s for s in seen) >= count:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), f"{text!r} x{count} not logged:\n{''.join(seen)[-3000:]}"
    return "".join(seen)


def _wait_for_children(pid: int, count: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = _children(pid)
        if len(children) == count:
            return children
        time.sleep(0.1)
    raise AssertionError(f"expected {count} server processes, found {_children(pid)}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
@pytest.mark.slow
@pytest.mark.parametrize("server_process", [["--processes", "2"]], indirect=True)
def test_processes_share_the_port_and_stop_together(
    server_process: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, _folder = server_process
    children = _wait_for_children(proc.pid, 2)
    started = _read_log_until(proc, "serving modelregistry", 2)
    # Separate channels (separate connections) land on either process; every
    # call works and sees the one database.
    for i in range(8):
        with RegistryClient(f"127.0.0.1:{port}") as c:
            c.create_registered_model(f"shared-{i}")
            c.create_model_version(f"shared-{i}", source="s3://a")
    with RegistryClient(f"127.0.0.1:{port}") as c:
        assert len(list(c.search_registered_models("name LIKE 'shared-%'"))) == 8
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    for child in children:
        assert (
            not Path(f"/proc/{child}").exists()
            or "Z" in (Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0])
        ), f"server process {child} outlived the supervisor"
    log = started + (proc.stderr.read() if proc.stderr else "")
    assert "supervising 2 server processes" in log
    assert log.count("registry_server.server stopped") == 2, log[-3000:]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
@pytest.mark.slow
@pytest.mark.parametrize("server_process", [["--processes", "2"]], indirect=True)
def test_a_dead_server_process_stops_the_supervisor(
    server_process: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, _port, _folder = server_process
    first, second = _wait_for_children(proc.pid, 2)
    _read_log_until(proc, "serving modelregistry", 2)
    os.kill(first, signal.SIGKILL)
    # Exits non-zero so a service manager restarts the whole server.
    assert proc.wait(timeout=30) == 1
    deadline = time.monotonic() + 10
    while Path(f"/proc/{second}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{second}").exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
def test_processes_on_postgres_share_one_database(pg_database_url: str, tmp_path: Path) -> None:
    """The production shape: `--processes 2` on PostgreSQL (the supervisor checks the
    schema once; each child has its own pools and prepared statements)."""
    with registry_process(
        pg_database_url,
        str(tmp_path / "artifacts"),
        tmp_path / "server.log",
        log_level="INFO",
        env={"REGISTRY_PROCESSES": "2"},
    ) as server:
        children = _wait_for_children(server.process.pid, 2)
        deadline = time.monotonic() + 60
        while server.log().count("serving modelregistry") < 2:
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.1)
        name = f"pg-processes-{os.getpid()}"
        # Separate connections land on either process; they all see one registry.
        for i in range(8):
            with RegistryClient(server.target) as c:
                if i == 0:
                    c.create_registered_model(name)
                c.create_model_version(name, source=f"s3://a/{i}")
                assert c.resolve(f"models:/{name}/latest").model_version.version == i + 1
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    for child in children:
        assert (
            not Path(f"/proc/{child}").exists()
            or "Z" in (Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0])
        ), f"server process {child} outlived the supervisor"
    assert "supervising 2 server processes" in server.log()


def test_processes_need_a_fixed_port() -> None:
    with pytest.raises(ValueError, match=r"--processes .* needs a fixed port"):
        ServerConfig(database_url="sqlite://", listen="127.0.0.1:0", processes=2)
    with pytest.raises(ValueError, match=r"must be a number or auto"):
        ServerConfig.from_env("sqlite://", processes="many")
    assert ServerConfig.from_env("sqlite://", processes="auto").processes >= 1
