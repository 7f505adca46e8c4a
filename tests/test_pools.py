"""Reads run on their own small pool (registry_server/api/pools.py).

If grpcio stopped honouring a handler's `experimental_thread_pool`, reads
would silently share the general pool again: the second test would fail."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import grpc
import pytest
from support.net import free_port

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import NotFound, RegistryClient
from registry_server.api.pools import READ_METHODS
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start

SERVICE = pb.DESCRIPTOR.services_by_name["ModelRegistry"]


def test_read_methods_are_unary_methods_of_the_service() -> None:
    methods = {m.name: m for m in SERVICE.methods}
    for name in READ_METHODS:
        assert name in methods, name
        assert not methods[name].client_streaming and not methods[name].server_streaming


@pytest.fixture(params=["sqlite", "postgresql"])
def one_worker_server(request: pytest.FixtureRequest, tmp_path) -> Iterator[RunningServer]:
    if request.param == "postgresql":
        database_url = request.getfixturevalue("pg_database_url")
    else:
        database_url = f"sqlite:///{tmp_path / 'pools.db'}"
    config = ServerConfig(
        database_url=database_url,
        artifact_store=str(tmp_path / "artifacts"),
        listen=f"127.0.0.1:{free_port()}",
        workers=1,
        read_threads=1,
    )
    running = start(config)
    try:
        yield running
    finally:
        running.stop(grace=1)


def test_reads_are_answered_while_every_worker_is_held(
    one_worker_server: RunningServer,
) -> None:
    """An upload that stalls holds the only general thread; reads still run."""
    target = f"127.0.0.1:{one_worker_server.port}"
    release = threading.Event()

    def stalled_upload() -> Iterator[pb.UploadArtifactRequest]:
        release.wait(30)
        return
        yield  # a generator that sends nothing until released

    prefix = f"queued-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared
    with RegistryClient(target, timeout=5) as client:
        stub = registry_pb2_grpc.ModelRegistryStub(client.channel)
        upload = stub.UploadArtifact.future(stalled_upload(), metadata=client.metadata)
        writes = []
        try:
            # The upload takes the worker once its call reaches the server; a
            # write sent before that is answered. Until one write waits, the
            # worker was still free: send another.
            for attempt in range(40):
                write = stub.CreateRegisteredModel.future(
                    pb.CreateRegisteredModelRequest(name=f"{prefix}-{attempt}"),
                    metadata=client.metadata,
                )
                writes.append(write)
                try:
                    write.result(timeout=0.5)
                except grpc.FutureTimeoutError:
                    break
            else:
                pytest.fail("the stalled upload never held the worker")
            # The write waits for the held thread, while reads are answered.
            with pytest.raises(NotFound):
                client.get_registered_model(f"{prefix}-{attempt}")
            assert client.whoami().principal
        finally:
            release.set()
        with pytest.raises(grpc.RpcError) as failed:
            upload.result(timeout=10)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        writes[-1].result(timeout=10)
        assert client.get_registered_model(f"{prefix}-{attempt}").name == f"{prefix}-{attempt}"


@pytest.mark.parametrize(
    ("flag", "setting"), [("--workers", "workers"), ("--read-threads", "read_threads")]
)
def test_thread_counts_below_one_are_refused_naming_the_flag(
    tmp_path, flag: str, setting: str
) -> None:
    from registry_server.config import ConfigError

    with pytest.raises(ConfigError, match=f"{flag} .* must be at least 1, not 0"):
        ServerConfig(
            database_url=f"sqlite:///{tmp_path / 'x.db'}",
            artifact_store=str(tmp_path / "artifacts"),
            **{setting: 0},
        )


def test_zero_threads_given_as_flags_are_refused_not_replaced_by_defaults(tmp_path) -> None:
    from registry_server.config import ConfigError

    for given in ({"workers": 0}, {"read_threads": 0}):
        with pytest.raises(ConfigError, match="must be at least 1, not 0"):
            ServerConfig.from_env(
                f"sqlite:///{tmp_path / 'x.db'}", artifact_store=str(tmp_path / "a"), **given
            )
