"""Maximum connection age (REGISTRY_MAX_CONNECTION_AGE, server.connection_options):
a client that keeps calling is asked to reconnect once its connection is that
old, so long-lived clients spread over replicas added since. Seen through a
TCP proxy that counts the connections it accepts: calls keep succeeding
across the age, over new connections."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support.proxy import TcpProxy
from support.waiting import wait_until

from registry_client import RegistryClient
from registry_server.config import (
    DEFAULT_MAX_CONNECTION_AGE,
    DEFAULT_MAX_CONNECTION_AGE_GRACE,
    ServerConfig,
)
from registry_server.server import connection_options, start


def test_the_age_settings_become_grpc_options(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ServerConfig(database_url="sqlite:///unused.db")
    options = dict(connection_options(config))
    assert options["grpc.max_connection_age_ms"] == DEFAULT_MAX_CONNECTION_AGE * 1000
    assert options["grpc.max_connection_age_grace_ms"] == DEFAULT_MAX_CONNECTION_AGE_GRACE * 1000
    monkeypatch.setenv("REGISTRY_MAX_CONNECTION_AGE", "60")
    monkeypatch.setenv("REGISTRY_MAX_CONNECTION_AGE_GRACE", "5")
    options = dict(connection_options(ServerConfig(database_url="sqlite:///unused.db")))
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert options["grpc.max_connection_age_grace_ms"] == 5_000


@pytest.mark.slow
def test_a_busy_client_reconnects_after_the_maximum_age_without_a_failed_call(
    tmp_path: Path,
) -> None:
    running = start(
        ServerConfig(
            database_url=f"sqlite:///{tmp_path / 'r.db'}",
            artifact_store=str(tmp_path / "artifacts"),
            listen="127.0.0.1:0",
            max_connection_age=1.0,
            max_connection_age_grace=1.0,
        )
    )
    stop = threading.Event()
    calls = [0]
    failures: list[BaseException] = []
    try:
        with TcpProxy("127.0.0.1", running.port) as proxy:
            target = f"{proxy.host}:{proxy.port}"
            with RegistryClient(target) as admin:
                admin.create_registered_model("aged")

            def busy() -> None:
                # One channel for the whole run, no retries: a call that the
                # reconnection broke would be counted here.
                with RegistryClient(target, max_attempts=1) as client:
                    while not stop.is_set():
                        try:
                            client.get_registered_model("aged")
                            calls[0] += 1
                        except BaseException as exc:
                            failures.append(exc)

            thread = threading.Thread(target=busy)
            connected = proxy.accepted
            thread.start()
            try:
                # Three connections for one channel: it reconnected twice.
                wait_until(lambda: proxy.accepted >= connected + 3, 20, what="reconnections")
                before = calls[0]
                wait_until(lambda: calls[0] >= before + 20, 10, what="calls after reconnecting")
            finally:
                stop.set()
                thread.join(30)
    finally:
        running.stop(grace=1)
    assert failures == []


def test_registry_lb_policy_sets_the_channel_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from registry_client._transport import _environment_options

    assert _environment_options() == {}
    monkeypatch.setenv("REGISTRY_LB_POLICY", "round_robin")
    assert _environment_options() == {"grpc.lb_policy_name": "round_robin"}
    running = start(
        ServerConfig(
            database_url=f"sqlite:///{tmp_path / 'r.db'}",
            artifact_store=str(tmp_path / "artifacts"),
            listen="127.0.0.1:0",
        )
    )
    try:
        # A dns:/// target, as for a headless Service, balanced per call.
        with RegistryClient(f"dns:///localhost:{running.port}") as client:
            client.create_registered_model("balanced")
            assert client.get_registered_model("balanced").name == "balanced"
    finally:
        running.stop(grace=1)


def _calls_per_process(metrics_dir: Path, method: str) -> list[float]:
    """Each server process's count of started `method` calls, from its own
    prometheus_client multiprocess file."""
    from prometheus_client.mmap_dict import MmapedDict

    return [
        sum(
            value
            for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))
            if '"grpc_server_started_total"' in key and f'"{method}"' in key
        )
        for path in sorted(metrics_dir.glob("counter_*.db"))
    ]


@pytest.mark.slow
@pytest.mark.parametrize("max_age", [None, "1"])
def test_one_client_moves_to_another_process_after_the_maximum_age(
    tmp_path: Path, max_age: str | None
) -> None:
    """serve --processes 2 shares one port (SO_REUSEPORT): the kernel picks a
    process per connection. One channel calling in a loop stays on one
    process for the life of its connection; with a 1 s maximum age its
    reconnections land on both."""
    import grpc
    from support.net import free_port
    from support.server_process import server_process

    from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
    from registry_api.proto.modelregistry.v1 import registry_pb2_grpc

    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        "REGISTRY_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    if max_age:
        env |= {"REGISTRY_MAX_CONNECTION_AGE": max_age, "REGISTRY_MAX_CONNECTION_AGE_GRACE": "1"}
    folder = tmp_path / "data"
    with (
        server_process(
            f"sqlite:///{folder / 'r.db'}",
            str(folder / "a"),
            workers=4,
            processes=2,
            log_level="INFO",
            env=env,
        ) as proc,
        grpc.insecure_channel(proc.target) as channel,
    ):
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        stub.WhoAmI(pb.WhoAmIRequest())
        if max_age is None:
            for _ in range(200):
                stub.WhoAmI(pb.WhoAmIRequest())
            wait_until(
                lambda: sum(_calls_per_process(metrics_dir, "WhoAmI")) == 201,
                what="every call counted",
            )
            assert sorted(_calls_per_process(metrics_dir, "WhoAmI")) == [0, 201]
            return

        def both_served() -> bool:
            stub.WhoAmI(pb.WhoAmIRequest(), wait_for_ready=True)
            shares = _calls_per_process(metrics_dir, "WhoAmI")
            return len(shares) == 2 and all(share > 0 for share in shares)

        wait_until(both_served, timeout=40, interval=0.05, what="calls served by both processes")
