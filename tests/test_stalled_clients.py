"""Stalled clients cannot starve other callers.

Two ways a client can hold server resources without doing anything:

* thousands of connections that never make a call, some not even finishing
  their HTTP/2 handshake: each costs the server a file descriptor, no worker;
  REGISTRY_HANDSHAKE_TIMEOUT and REGISTRY_CONNECTION_IDLE close them
  (server.py, connection_options), while calls from others go on;
* an upload that sends its header and a chunk, then nothing: it holds a
  worker until REGISTRY_UPLOAD_MESSAGE_TIMEOUT ends it with
  DEADLINE_EXCEEDED (api/uploads.py); the version stays pending, the same
  path can be sent again, and other writers keep uploading meanwhile.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.auth import AuthServer, start_auth_server
from support.server_process import server_process

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient

pytestmark = pytest.mark.slow

SILENT = 1000  # TCP connections that send nothing
IDLE = 1000  # HTTP/2 connections (preface and SETTINGS sent) that never call
# An HTTP/2 client's first bytes: the preface, then an empty SETTINGS frame.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
WAIT = 60.0


def _open(target: str, count: int, first_bytes: bytes) -> list[socket.socket]:
    host, port = target.rsplit(":", 1)
    opened = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=WAIT)
        if first_bytes:
            sock.sendall(first_bytes)
        sock.setblocking(False)
        opened.append(sock)
    return opened


def _wait_closed_by_peer(sockets: list[socket.socket], timeout: float) -> int:
    """Read (and drop) what the server sends until it closes each socket;
    the number still open after ``timeout`` seconds."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    open_count = len(sockets)
    deadline = time.monotonic() + timeout
    while open_count and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(sock)
                open_count -= 1
    selector.close()
    return open_count


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_idle_connections_are_closed_and_do_not_starve_callers(tmp_path: Path) -> None:
    env = {"REGISTRY_HANDSHAKE_TIMEOUT": "2", "REGISTRY_CONNECTION_IDLE": "2"}
    with server_process(
        f"sqlite:///{tmp_path / 'registry.db'}", str(tmp_path / "artifacts"), env=env
    ) as server:
        baseline = _descriptors(server.pid)
        sockets = _open(server.target, SILENT, b"") + _open(server.target, IDLE, HTTP2_PREFACE)
        try:
            # Calls from another client go on within their normal deadline.
            with RegistryClient(server.target, timeout=30, max_attempts=1) as client:
                for i in range(20):
                    client.create_registered_model(f"busy-{i}")
                    assert client.get_registered_model(f"busy-{i}").name == f"busy-{i}"
            # The silent sockets are closed by the handshake timeout, the idle
            # HTTP/2 connections by the idle limit.
            assert _wait_closed_by_peer(sockets, WAIT) == 0
        finally:
            for sock in sockets:
                sock.close()
        # The server let go of their descriptors (a little slack for its own).
        assert _descriptors(server.pid) < baseline + 50
        with RegistryClient(server.target, timeout=30, max_attempts=1) as client:
            assert client.get_registered_model("busy-0").name == "busy-0"


MESSAGE_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def stalling(
    pg_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    tmp = tmp_path_factory.mktemp("stalling")
    running = start_auth_server(
        pg_database_url, tmp / "artifacts", upload_message_timeout=MESSAGE_TIMEOUT
    )
    server = AuthServer(running, "postgresql", tmp)
    try:
        yield server
    finally:
        server.close()


def _auth(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def _stalled(
    header: pb.UploadArtifactRequest.Header, release: threading.Event
) -> Iterator[pb.UploadArtifactRequest]:
    """The header and one chunk, then nothing until released."""
    yield pb.UploadArtifactRequest(header=header)
    yield pb.UploadArtifactRequest(chunk=b"first part")
    release.wait(WAIT)


def _whole(
    header: pb.UploadArtifactRequest.Header, data: bytes
) -> Iterator[pb.UploadArtifactRequest]:
    yield pb.UploadArtifactRequest(header=header)
    yield pb.UploadArtifactRequest(chunk=data)


def test_an_upload_that_stops_mid_stream_is_ended_and_can_be_sent_again(
    stalling: AuthServer, model_name: str
) -> None:
    admin = stalling.admin
    admin.create_registered_model(model_name)
    version = admin.create_model_version(model_name, registry_held_artifacts=True).version
    secret = stalling.token(f"writer-{model_name}", "writer")
    other = stalling.token(f"other-{model_name}", "writer")

    def header(path: str) -> pb.UploadArtifactRequest.Header:
        return pb.UploadArtifactRequest.Header(name=model_name, version=version, path=path)

    release = threading.Event()
    with grpc.insecure_channel(stalling.target) as channel:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        stalled = [
            stub.UploadArtifact.future(
                _stalled(header(f"stalled-{i}.bin"), release), metadata=_auth(secret), timeout=WAIT
            )
            for i in range(4)
        ]
        try:
            # Other writers keep uploading while the stalled streams hold workers.
            for i in range(8):
                stored = stub.UploadArtifact(
                    _whole(header(f"other-{i}.bin"), b"other"), metadata=_auth(other), timeout=30
                )
                assert stored.file.size == 5
            for future in stalled:
                with pytest.raises(grpc.RpcError) as ended:
                    future.result(WAIT)
                assert ended.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
                assert "REGISTRY_UPLOAD_MESSAGE_TIMEOUT" in (ended.value.details() or "")
        finally:
            release.set()
        # Nothing of the stalled files was kept: the same paths go up again.
        # The status reaches the client as the handler's thread is woken to
        # release the path, so a resend in that moment may still find it
        # reserved ("being uploaded"); it is free within moments.
        for i in range(4):
            deadline = time.monotonic() + 10
            while True:
                try:
                    stored = stub.UploadArtifact(
                        _whole(header(f"stalled-{i}.bin"), b"complete"),
                        metadata=_auth(secret),
                        timeout=30,
                    )
                    break
                except grpc.RpcError as busy:
                    reserved = busy.code() is grpc.StatusCode.ALREADY_EXISTS
                    if not reserved or "being uploaded" not in (busy.details() or ""):
                        raise
                    assert time.monotonic() < deadline, "the stalled path stayed reserved"
                    time.sleep(0.05)
            assert stored.file.size == 8
    files = {f.path: f.size for f in admin.list_artifacts(model_name, version)}
    assert files == {
        **{f"other-{i}.bin": 5 for i in range(8)},
        **{f"stalled-{i}.bin": 8 for i in range(4)},
    }
