"""UploadArtifact streams cannot hold the server's workers.

A stream holds a worker thread while it is open. Any token, even of role
none, could once hold every worker by opening streams and sending nothing.
Now the caller's right to write at all is checked before the header is
awaited (PERMISSION_DENIED at once), a stream without a header within
REGISTRY_UPLOAD_HEADER_TIMEOUT ends with DEADLINE_EXCEEDED, and a principal
has at most REGISTRY_UPLOADS_PER_PRINCIPAL streams open (RESOURCE_EXHAUSTED
beyond), while others keep writing. Real streams, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.auth import AuthServer, start_auth_server

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_server.config import ENVIRONMENT, ConfigError, ServerConfig, environment_help

# Streams held open until timeouts fire: the full run, not the fast lane.
pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 1.0
PER_PRINCIPAL = 2
WAIT = 30


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    tmp = tmp_path_factory.mktemp(f"gated-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'registry.db'}"
    else:
        url = request.getfixturevalue("pg_database_url")
    running = start_auth_server(
        url,
        tmp / "artifacts",
        upload_header_timeout=HEADER_TIMEOUT,
        uploads_per_principal=PER_PRINCIPAL,
    )
    server = AuthServer(running, request.param, tmp)
    try:
        yield server
    finally:
        server.close()


def _stub(channel: grpc.Channel) -> registry_pb2_grpc.ModelRegistryStub:
    return registry_pb2_grpc.ModelRegistryStub(channel)


def _auth(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def _held(
    release: threading.Event, header: pb.UploadArtifactRequest.Header | None = None
) -> Iterator[pb.UploadArtifactRequest]:
    """A stream that sends the header (if any), then nothing until released."""
    if header is not None:
        yield pb.UploadArtifactRequest(header=header)
    release.wait(WAIT)
    yield pb.UploadArtifactRequest(chunk=b"data")


def _pending_version(server: AuthServer, name: str) -> int:
    server.admin.create_registered_model(name)
    return server.admin.create_model_version(name, registry_held_artifacts=True).version


def test_a_caller_who_may_not_write_is_refused_before_its_header(gated: AuthServer) -> None:
    """Refused at once, without waiting for a header and without naming any
    model, so the answer says nothing about which models exist."""
    for role in ("none", "reader"):
        secret = gated.token(f"idle-{role}", role)
        release = threading.Event()
        with grpc.insecure_channel(gated.target) as channel:
            stub = _stub(channel)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as refused:
                stub.UploadArtifact(_held(release), metadata=_auth(secret), timeout=WAIT)
            release.set()
        assert time.monotonic() - started < HEADER_TIMEOUT  # at once
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "grant on some model" in (refused.value.details() or "")


def test_a_grant_on_one_model_is_enough_to_open_an_upload(
    gated: AuthServer, model_name: str
) -> None:
    version = _pending_version(gated, model_name)
    principal = f"granted-{model_name}"
    gated.admin.set_model_grant(model_name, principal, "writer")
    secret = gated.token(principal, "none")
    header = pb.UploadArtifactRequest.Header(name=model_name, version=version, path="f.bin")
    messages = iter([pb.UploadArtifactRequest(header=header), pb.UploadArtifactRequest(chunk=b"x")])
    with grpc.insecure_channel(gated.target) as channel:
        stored = _stub(channel).UploadArtifact(messages, metadata=_auth(secret), timeout=WAIT)
    assert stored.file.size == 1


def test_a_stream_without_a_header_ends_after_the_header_timeout(gated: AuthServer) -> None:
    secret = gated.token("slow-writer", "writer")
    release = threading.Event()
    started = time.monotonic()
    with grpc.insecure_channel(gated.target) as channel, pytest.raises(grpc.RpcError) as ended:
        _stub(channel).UploadArtifact(_held(release), metadata=_auth(secret), timeout=WAIT)
    release.set()
    elapsed = time.monotonic() - started
    assert ended.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED, ended.value.details()
    assert "header" in (ended.value.details() or "")
    assert HEADER_TIMEOUT * 0.9 <= elapsed < HEADER_TIMEOUT + 10


def test_one_principal_holds_at_most_its_share_of_uploads(
    gated: AuthServer, model_name: str
) -> None:
    version = _pending_version(gated, model_name)
    greedy = gated.token(f"greedy-{model_name}", "writer")
    release = threading.Event()
    with grpc.insecure_channel(gated.target) as channel:
        stub = _stub(channel)
        held = [
            stub.UploadArtifact.future(
                _held(
                    release,
                    pb.UploadArtifactRequest.Header(
                        name=model_name, version=version, path=f"held-{i}.bin"
                    ),
                ),
                metadata=_auth(greedy),
                timeout=WAIT,
            )
            for i in range(PER_PRINCIPAL)
        ]
        try:
            # The held streams sent their headers: they are past the timeout's
            # reach and hold their slots until released.
            time.sleep(0.5)
            with pytest.raises(grpc.RpcError) as refused:
                stub.UploadArtifact(_held(release), metadata=_auth(greedy), timeout=WAIT)
            assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "REGISTRY_UPLOADS_PER_PRINCIPAL" in (refused.value.details() or "")
            # Someone else still uploads.
            other = gated.token(f"other-{model_name}", "writer")
            header = pb.UploadArtifactRequest.Header(name=model_name, version=version, path="o.bin")
            messages = iter(
                [pb.UploadArtifactRequest(header=header), pb.UploadArtifactRequest(chunk=b"o")]
            )
            assert stub.UploadArtifact(messages, metadata=_auth(other), timeout=WAIT).file.size == 1
        finally:
            release.set()
        assert [f.result(WAIT).file.size for f in held] == [4] * PER_PRINCIPAL
        # Released slots are free again.
        header = pb.UploadArtifactRequest.Header(name=model_name, version=version, path="again.bin")
        messages = iter(
            [pb.UploadArtifactRequest(header=header), pb.UploadArtifactRequest(chunk=b"a")]
        )
        assert stub.UploadArtifact(messages, metadata=_auth(greedy), timeout=WAIT).file.size == 1


def test_the_upload_settings_are_documented_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    names = {name for name, _, _ in ENVIRONMENT}
    assert {"REGISTRY_UPLOAD_HEADER_TIMEOUT", "REGISTRY_UPLOADS_PER_PRINCIPAL"} <= names
    assert "REGISTRY_UPLOAD_HEADER_TIMEOUT" in environment_help()
    monkeypatch.setenv("REGISTRY_UPLOAD_HEADER_TIMEOUT", "2.5")
    monkeypatch.setenv("REGISTRY_UPLOADS_PER_PRINCIPAL", "3")
    config = ServerConfig(database_url=f"sqlite:///{tmp_path / 'r.db'}")
    assert (config.upload_header_timeout, config.uploads_per_principal) == (2.5, 3)
    for name, value in (
        ("REGISTRY_UPLOADS_PER_PRINCIPAL", "2.5"),
        ("REGISTRY_UPLOADS_PER_PRINCIPAL", "0"),
        ("REGISTRY_UPLOAD_HEADER_TIMEOUT", "soon"),
    ):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name):
            ServerConfig(database_url=f"sqlite:///{tmp_path / 'r.db'}")
        monkeypatch.delenv(name)
