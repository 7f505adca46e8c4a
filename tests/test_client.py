"""The client's contract: every RPC has a method, retries, deadlines, errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest
from support.net import free_port

from registry_api.proto.modelregistry.v1 import registry_pb2
from registry_client import (
    RPC_METHODS,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RegistryClient,
    RegistryError,
    Unavailable,
)
from registry_server.config import ServerConfig
from registry_server.server import start

SERVICE = registry_pb2.DESCRIPTOR.services_by_name["ModelRegistry"]


def test_every_rpc_has_a_client_method() -> None:
    rpcs = {m.name for m in SERVICE.methods}
    assert set(RPC_METHODS) == rpcs
    for rpc, method in RPC_METHODS.items():
        assert callable(getattr(RegistryClient, method, None)), rpc


def test_errors_carry_code_and_message(client: RegistryClient, model_name: str) -> None:
    with pytest.raises(NotFound) as info:
        client.get_registered_model(model_name)
    err = info.value
    assert isinstance(err, RegistryError)
    assert err.code == grpc.StatusCode.NOT_FOUND
    assert model_name in err.message
    assert "NOT_FOUND" in str(err)
    client.create_registered_model(model_name)
    with pytest.raises(AlreadyExists):
        client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    with pytest.raises(FailedPrecondition):
        client.set_registered_model_alias(model_name, "a", 1, expected_version=5)
    with pytest.raises(InvalidArgument):
        client.transition_model_version_stage(model_name, 1, "bogus")


def _late_server(tmp_path: Path, port: int) -> ServerConfig:
    """A server's settings for `port`, to start after a client calls it."""
    return ServerConfig(
        database_url=f"sqlite:///{tmp_path / 'late.db'}",
        artifact_store=str(tmp_path / "artifacts"),
        listen=f"127.0.0.1:{port}",
        workers=4,
    )


@pytest.mark.slow
def test_retry_safe_calls_survive_a_server_that_starts_late(tmp_path) -> None:
    port = free_port()
    config = _late_server(tmp_path, port)
    holder: dict = {}
    retrying = threading.Event()

    def start_late() -> None:
        # Up only once a read has met UNAVAILABLE and is backing off to retry.
        retrying.wait(timeout=30)
        holder["server"] = start(config)

    with RegistryClient(f"127.0.0.1:{port}", max_attempts=8, timeout=5) as early:
        real_sleep = early._sleep

        def backoff(seconds: float) -> None:
            retrying.set()
            real_sleep(seconds)

        early._sleep = backoff
        # Not retry-safe: fails at once instead of risking a double create.
        with pytest.raises(Unavailable):
            early.create_registered_model("late-model")
        thread = threading.Thread(target=start_late)
        thread.start()
        try:
            # Reads retry on UNAVAILABLE until the server is up.
            with pytest.raises(NotFound):
                early.get_registered_model("late-model")
            early.create_registered_model("late-model")
            assert early.create_model_version("late-model", source="s3://a").version == 1
        finally:
            retrying.set()  # had the read not retried, it failed: start, to stop, anyway
            thread.join()
            holder["server"].stop(grace=1)


@pytest.mark.slow
def test_a_read_waits_for_a_server_started_after_the_call(tmp_path) -> None:
    """A CI job starts a server and calls it at once: the call, made 1.5 s
    before the server listens, succeeds as soon as it does. The client's
    five attempts with their 0.75 s of backoff used to be spent inside the
    channel's first reconnect backoff (1 s), and the call failed with
    UNAVAILABLE half a second in, with 14 s of its 15 s timeout left."""
    port = free_port()
    config = _late_server(tmp_path, port)
    outcome: dict = {}
    told: list[tuple[str, float]] = []
    with RegistryClient(
        f"127.0.0.1:{port}", timeout=15, on_connection_wait=lambda *a: told.append(a)
    ) as early:

        def call() -> None:
            try:
                outcome["models"] = early.search_registered_models()
            except RegistryError as exc:
                outcome["error"] = exc
            outcome["done"] = time.monotonic()

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(1.5)
        server = start(config)
        try:
            up = time.monotonic()
            caller.join(timeout=20)
            assert "error" not in outcome, outcome["error"]
            assert list(outcome["models"]) == []
            # Found by the channel's next try: 1 s apart at most (+20 % jitter).
            assert outcome["done"] - up < 2.5
            # Told once, a second into the wait, with what was left of 15 s.
            ((target, seconds),) = told
            assert target == f"127.0.0.1:{port}" and 12 < seconds < 14
            assert list(early.search_registered_models()) == []
            assert len(told) == 1
        finally:
            caller.join(timeout=20)
            server.stop(grace=1)


def test_an_unreachable_server_gives_unavailable_at_the_deadline() -> None:
    """Nothing ever listens: a read keeps trying for its whole timeout, then
    fails with UNAVAILABLE (not DEADLINE_EXCEEDED, not later); a write that is
    not safe to resend fails at its first attempt, as before."""
    target = f"127.0.0.1:{free_port()}"
    with RegistryClient(target, timeout=1.5) as c:
        began = time.monotonic()
        with pytest.raises(Unavailable):
            c.get_registered_model("x")
        assert 1.2 < time.monotonic() - began < 2.0
        began = time.monotonic()
        with pytest.raises(Unavailable):
            c.create_registered_model("x")
        assert time.monotonic() - began < 0.5


def test_the_channel_and_metadata_call_the_generated_stub_as_the_client(
    target: str, model_name: str
) -> None:
    """`channel` and `metadata` are the escape hatch to raw messages: a call
    made through the stub with them is recorded under the client's actor."""
    from registry_api.proto.modelregistry.v1 import registry_pb2_grpc

    with RegistryClient(target, actor="stub-caller") as c:
        stub = registry_pb2_grpc.ModelRegistryStub(c.channel)
        stub.CreateRegisteredModel(
            registry_pb2.CreateRegisteredModelRequest(name=model_name), metadata=c.metadata
        )
        reply = stub.CreateModelVersion(
            registry_pb2.CreateModelVersionRequest(name=model_name, source="s3://b/1"),
            metadata=c.metadata,
        )
        assert reply.model_version.created_by == "stub-caller"
        assert c.get_model_version(model_name, 1).created_by == "stub-caller"
        assert ("registry-actor", "stub-caller") in c.metadata


def test_versions_convert_with_and_without_tags_aliases_and_datasets() -> None:
    """The shortcuts for empty tags, aliases and datasets give the same
    values as the full conversion: read-only mappings, tuples, names."""
    from types import MappingProxyType

    from registry_client import Dataset, ModelVersion

    bare = registry_pb2.ModelVersion(
        name="m", version=1, status=registry_pb2.MODEL_VERSION_STATUS_READY
    )
    full = registry_pb2.ModelVersion(
        name="m",
        version=2,
        status=99,  # a status newer than this client
        tags=[registry_pb2.Tag(key="k", value="v")],
        aliases=["b", "a"],
        lineage=registry_pb2.Lineage(
            datasets=[registry_pb2.DatasetReference(name="d", digest="x", source_uri="s")]
        ),
    )
    one, two = ModelVersion._from_proto(bare), ModelVersion._from_proto(full)
    assert (one.tags, one.aliases, one.lineage.datasets, one.status) == ({}, (), (), "READY")
    assert isinstance(one.tags, MappingProxyType)
    with pytest.raises(TypeError):
        one.tags["k"] = "v"  # type: ignore[index]
    assert (dict(two.tags), two.aliases, two.status) == ({"k": "v"}, ("b", "a"), "99")
    assert two.lineage.datasets == (Dataset(name="d", digest="x", source_uri="s"),)
    assert hash(one) != hash(two)


class _Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "offset 12 is past the end of 'model.bin' (10 bytes)"


def test_out_of_range_has_its_own_class() -> None:
    """A download offset past the end of a file (OUT_OF_RANGE) is told apart
    from a malformed request, and is exported with the other errors."""
    import registry_client
    from registry_client import OutOfRange, error_from_rpc

    error = error_from_rpc(_Failed(grpc.StatusCode.OUT_OF_RANGE))
    assert type(error) is OutOfRange
    assert error.code == grpc.StatusCode.OUT_OF_RANGE
    assert str(error) == "OUT_OF_RANGE: offset 12 is past the end of 'model.bin' (10 bytes)"
    assert "OutOfRange" in registry_client.__all__
