"""The HTTP side port (``serve --http-listen``): /healthz through a drain and a
database that stops answering, off unless asked for, and /metrics summed over
every process of ``serve --processes 2``."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.net import free_port
from support.postgres import temporary_database
from support.proxy import TcpProxy
from support.scrape import get, healthz, scrape, value
from support.server_process import server_process
from support.waiting import wait_until

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start

SERVICE = "modelregistry.v1.ModelRegistry"


def _sqlite_config(folder: Path, **overrides: object) -> ServerConfig:
    settings: dict = {
        "database_url": f"sqlite:///{folder / 'registry.db'}",
        "artifact_store": str(folder / "artifacts"),
        "listen": "127.0.0.1:0",
        "http_listen": "127.0.0.1:0",
        **overrides,
    }
    return ServerConfig(**settings)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    server = start(_sqlite_config(tmp_path))
    yield server
    server.stop(0)


def test_healthz_is_200_while_serving(running: RunningServer) -> None:
    assert running.http is not None
    status, body = get(running.http.port, "/healthz")
    assert (status, body) == (200, "serving\n")


def test_healthz_turns_503_when_stop_begins_while_the_port_still_answers(
    tmp_path: Path,
) -> None:
    server = start(_sqlite_config(tmp_path))
    assert server.http is not None
    port = server.http.port
    seen: list[tuple[int, str]] = []
    # Runs inside stop(), at the moment draining begins: the side port is up.
    server.serving.on_drain(lambda: seen.append(get(port, "/healthz")))
    server.stop(0)
    assert seen == [(503, "draining\n")]
    assert server.serving.draining


def test_healthz_is_503_while_draining(running: RunningServer) -> None:
    assert running.http is not None
    assert running.serving.begin_draining()
    assert not running.serving.begin_draining()  # once
    assert get(running.http.port, "/healthz") == (503, "draining\n")


def test_healthz_is_503_while_the_database_does_not_answer(
    pg_server_url: str, tmp_path: Path
) -> None:
    """PostgreSQL behind a proxy that drops every packet: the probe gives up
    after its short timeout and says so; once the network heals it is 200
    again."""
    from sqlalchemy.engine import make_url

    from registry_server import migrate
    from registry_server.store.database import make_engine

    with temporary_database(pg_server_url, prefix="registry_healthz") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        real = make_url(url)
        with TcpProxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
            proxied = real.set(host="127.0.0.1", port=proxy.port)
            server = start(_sqlite_config(tmp_path, database_url=proxied.render_as_string(False)))
            try:
                assert server.http is not None
                port = server.http.port
                server.serving.database_timeout = 0.5
                assert healthz(port) == 200
                proxy.blackhole()
                # The pooled connection now hangs: the probe must not.
                assert get(port, "/healthz") == (503, "database not answering\n")
                proxy.pass_through()
                wait_until(lambda: healthz(port) == 200, timeout=30, what="healthz 200 again")
            finally:
                proxy.pass_through()
                server.stop(0)


def _listening_ports(pid: int) -> set[int]:
    """TCP ports process `pid` listens on (from /proc: its sockets' inodes)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_side_port_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert ServerConfig(database_url="sqlite://").http_listen is None
    before = _listening_ports(os.getpid())
    server = start(_sqlite_config(tmp_path, http_listen=None))
    try:
        assert server.http is None
        assert _listening_ports(os.getpid()) - before == {server.port}
    finally:
        server.stop(0)


def test_a_taken_side_port_is_an_error_at_start_and_leaves_nothing_listening(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = _listening_ports(os.getpid())
        with pytest.raises(OSError, match="--http-listen"):
            start(_sqlite_config(tmp_path, http_listen=f"127.0.0.1:{port}"))
        # The gRPC listener opened before the side port failed is closed again.
        wait_until(lambda: _listening_ports(os.getpid()) == before, what="nothing left listening")


@pytest.mark.slow
def test_one_scrape_counts_the_calls_of_every_process(tmp_path: Path) -> None:
    """serve --processes 2: calls over separate connections land on both
    processes (SO_REUSEPORT), and whichever process answers a scrape, the
    count is the total."""
    from prometheus_client.mmap_dict import MmapedDict

    http_port = free_port()
    metrics_dir = tmp_path / "metrics"
    (metrics_dir).mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale: the supervisor removes it")
    env = {
        "REGISTRY_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    folder = tmp_path / "data"
    calls = 40
    with server_process(
        f"sqlite:///{folder / 'r.db'}",
        str(folder / "a"),
        workers=4,
        processes=2,
        log_level="INFO",
        env=env,
    ) as proc:
        with grpc.insecure_channel(proc.target) as channel:
            registry_pb2_grpc.ModelRegistryStub(channel).CreateRegisteredModel(
                pb.CreateRegisteredModelRequest(name="m")
            )
        for _ in range(calls):
            # A channel of its own per call: a new connection each time.
            with grpc.insecure_channel(
                proc.target, options=[("grpc.use_local_subchannel_pool", 1)]
            ) as channel:
                stub = registry_pb2_grpc.ModelRegistryStub(channel)
                stub.GetRegisteredModel(pb.GetRegisteredModelRequest(name="m"))
        labels = {
            "grpc_type": "unary",
            "grpc_service": SERVICE,
            "grpc_method": "GetRegisteredModel",
        }
        # Each process adds its calls to the shared files within a second
        # (registry_server/tallies.py); then every scrape, whichever process
        # answers it, has the total.
        wait_until(
            lambda: value(scrape(http_port), "grpc_server_started_total", **labels) == calls,
            what=f"{calls} calls counted",
        )
        for _ in range(6):  # scrapes reach either process
            samples = scrape(http_port)
            assert value(samples, "grpc_server_started_total", **labels) == calls
            assert value(samples, "grpc_server_handled_total", **labels, grpc_code="OK") == calls
            assert value(samples, "registry_db_pool_size", pool="write") > 0
        # Each process's own share, from its file: both served some.
        shares = []
        for path in sorted(metrics_dir.glob("counter_*.db")):
            shares.append(
                sum(
                    v
                    for key, v, _, _ in MmapedDict.read_all_values_from_file(str(path))
                    if '"grpc_server_started_total"' in key and '"GetRegisteredModel"' in key
                )
            )
        assert len(shares) == 2 and all(share > 0 for share in shares), shares
        assert sum(shares) == calls
    # The operator's directory is kept; the temporary one the supervisor
    # makes by default is removed (not checked here: it is not named).
    assert metrics_dir.exists()
