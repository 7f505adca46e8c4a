"""Hostile input: every RPC, every field, answered with a clear status.

For each RPC of the service descriptor (so a new RPC is fuzzed, or fails
here, without anyone remembering to add it), Hypothesis sends requests whose
fields are huge, empty, unicode, control characters, NUL, SQL fragments, path
traversal, extreme integers and oversized lists, mixed with real names,
versions, aliases and paths of a fixture "world" so the checks past "no such
model" run too. Requests go through the generated stub, not the typed client,
so nothing is refused before it reaches the server.

Two properties, on both backends:
* the status is one a caller can act on (OK, INVALID_ARGUMENT, NOT_FOUND,
  ALREADY_EXISTS, FAILED_PRECONDITION, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED),
  never INTERNAL/UNKNOWN/UNAVAILABLE, and an error always says something;
* a rejected call (and any read) leaves every table and the artifact store
  exactly as they were.

Requests beyond the configured message size are refused by gRPC itself with
RESOURCE_EXHAUSTED, again changing nothing. A server with authentication on
gets the same treatment with real, forged and malformed bearer tokens.

The server with authentication on is in test_hostile_input_auth.py; the world, the
harness and the RPC driving are in support/hostile_rpc.py.
``HYPOTHESIS_PROFILE=long`` runs many more examples per RPC.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from conftest import s3_store_url
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import event, given
from hypothesis import strategies as st
from support.hostile import bucket_listing, folder_listing
from support.hostile_rpc import (
    CLEAR,
    CLIENT_STREAM_DRIVERS,
    HOSTILE,
    METHODS,
    READ_ONLY,
    SERVICE,
    TIMEOUT,
    WORLD_BREAKERS,
    Harness,
    build_request,
    database_snapshot,
    describe_changes,
    invoke,
    request_strategy,
    sha256_hex,
    shown,
    upload_messages,
)
from support.local_server import start_local
from support.postgres import temporary_database
from support.s3 import S3Endpoint

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_server import migrate
from registry_server.api.interceptors import INTERNAL_MESSAGE, MAX_STATUS_MESSAGE_BYTES
from registry_server.server import MAX_MESSAGE_BYTES, RunningServer
from registry_server.store.database import make_engine


@dataclass
class HostileServer:
    """A server of this module's own, on a database and store nothing else
    writes: every example snapshots all of it before and after, which costs
    what the session's shared database holds by then (minutes over the suite)."""

    running: RunningServer
    listing: Callable[[], list[tuple[Any, ...]]]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.running.port}"


@pytest.fixture(scope="module")
def hostile_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileServer]:
    folder = tmp_path_factory.mktemp("hostile")
    if backend == "sqlite":
        root = folder / "artifacts"
        running = start_local(f"sqlite:///{folder / 'registry.db'}", str(root))

        def folder_files() -> list[tuple[Any, ...]]:
            return list(folder_listing(root))

        yield HostileServer(running, folder_files)
        running.stop(grace=1)
        return
    s3: S3Endpoint = request.getfixturevalue("s3")
    bucket = f"registry-hostile-{uuid.uuid4().hex[:8]}"
    minio = s3.client()
    with temporary_database(request.getfixturevalue("pg_server_url"), "registry_hostile") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        running = start_local(url, s3_store_url(s3, bucket))

        def bucket_files() -> list[tuple[Any, ...]]:
            return list(bucket_listing(minio, bucket))

        yield HostileServer(running, bucket_files)
        running.stop(grace=1)


@pytest.fixture
def harness(hostile_server: HostileServer) -> Iterator[Harness]:
    database = database_snapshot(hostile_server.running)
    target = hostile_server.target
    with grpc.insecure_channel(target) as channel:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        yield Harness(target, stub, database, hostile_server.listing)


def test_every_rpc_has_a_hostile_input_driver() -> None:
    """Unary and server-streaming RPCs are driven from their descriptor; a
    client-streaming or bidirectional one needs a driver written for it."""
    for method in SERVICE.methods:
        if method.client_streaming:
            assert method.name in CLIENT_STREAM_DRIVERS, (
                f"no hostile-input driver for {method.name}"
            )


@pytest.mark.parametrize("method_name", list(METHODS))
@HOSTILE
@given(data=st.data())
def test_rpc_answers_hostile_input_clearly_and_rejections_change_nothing(
    method_name: str, harness: Harness, data: st.DataObject
) -> None:
    method = METHODS[method_name]
    spec = data.draw(request_strategy(method_name), label="request")
    pools = harness.pools()
    request = build_request(method, spec, pools)
    before = harness.before()
    harness.settled = None  # until this call is shown to have changed nothing
    outcome = invoke(harness.stub, method, request)
    event(outcome.code.name)  # --hypothesis-show-statistics: how deep the examples got
    assert outcome.code in CLEAR, (
        f"{method_name} answered {outcome.code.name}: {outcome.details}\n{shown(request)}"
    )
    if outcome.code is not grpc.StatusCode.OK:
        assert outcome.details.strip(), f"{method_name} {outcome.code.name} says nothing"
        assert outcome.details != INTERNAL_MESSAGE
    if outcome.code is not grpc.StatusCode.OK or method_name in READ_ONLY:
        after = harness.snapshot()
        assert after == before, (
            f"{method_name} answered {outcome.code.name} ({outcome.details[:200]}) "
            f"but changed the registry: {describe_changes(before, after)}"
        )
        harness.settled = after
    elif method_name in WORLD_BREAKERS and request.name == pools["name"][0]:
        harness.discard_world()


ACTORS = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.sampled_from(["' OR 1=1 --", "'; DROP TABLE model_events; --", "%", "_", "../../x"]),
    st.builds(lambda ch, n: ch * n, st.sampled_from("a'%"), st.sampled_from([256, 257, 4000])),
)


@HOSTILE
@given(actor=ACTORS)
def test_hostile_actor_metadata_is_answered_clearly(harness: Harness, actor: str) -> None:
    """The caller's name arrives in metadata, not in a field: same rules."""
    name = harness.pools()["name"][0]
    request = pb.SetRegisteredModelTagRequest(name=name, key="by", value="actor")
    before = harness.snapshot()
    try:
        harness.stub.SetRegisteredModelTag(
            request, timeout=TIMEOUT, metadata=(("registry-actor", actor),)
        )
        code = grpc.StatusCode.OK
    except grpc.RpcError as exc:
        code = exc.code()
        assert code in CLEAR, f"actor {actor[:50]!r}: {code.name} {exc.details()}"
        assert harness.snapshot() == before


# Inputs that once got INTERNAL (or a status the client could not read), kept
# as fixed examples so they are checked on every run, not only when the random
# search happens upon them again. Each: RPC, fields (given the world's model
# name), the status and a word of the message.
REGRESSIONS: dict[str, tuple[str, Callable[[str], dict[str, Any]], grpc.StatusCode, str]] = {
    # The message echoed 100,000 4-byte characters: a 1.2 MB trailer the client
    # refused with RESOURCE_EXHAUSTED ("metadata size exceeds limit").
    "huge stage echoed in the message": (
        "TransitionModelVersionStage",
        lambda m: {"name": m, "version": 1, "stage": "\U0001d11e" * 100_000},
        grpc.StatusCode.INVALID_ARGUMENT,
        "stage",
    ),
    "huge filter value echoed in the message": (
        "SearchModelVersions",
        lambda m: {"filter": "stage = '" + "\U0001d11e" * 4000 + "'"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "filter",
    ),
    # SQLite: "Python int too large to convert to SQLite INTEGER".
    "URI version beyond int64": (
        "ResolveModelUri",
        lambda m: {"uri": f"models:/{m}/99999999999999999999"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "version",
    ),
    # PostgreSQL: "A string literal cannot contain NUL (0x00) characters".
    "NUL in ListArtifacts name": (
        "ListArtifacts",
        lambda m: {"name": "\x00", "version": 1},
        grpc.StatusCode.INVALID_ARGUMENT,
        "name",
    ),
    "NUL in an access token description": (
        "CreateAccessToken",
        lambda m: {"principal": "alice", "role": pb.ROLE_READER, "description": "a\x00b"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "description",
    ),
    # Local store: ENAMETOOLONG.
    "path segment over 255 bytes": (
        "UploadArtifact",
        lambda m: {"name": m, "version": 2, "path": "d/" + "x" * 256},
        grpc.StatusCode.INVALID_ARGUMENT,
        "255 bytes",
    ),
    "path over 1024 bytes of UTF-8": (
        "UploadArtifact",
        lambda m: {"name": m, "version": 2, "path": "/".join(["\U0001d11e" * 60] * 5)},
        grpc.StatusCode.INVALID_ARGUMENT,
        "1024 bytes",
    ),
    # Local store: IsADirectoryError / NotADirectoryError.
    "a file where a folder is": (
        "UploadArtifact",
        lambda m: {"name": m, "version": 2, "path": "weights"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "clashes",
    ),
    "a file inside a file": (
        "UploadArtifact",
        lambda m: {"name": m, "version": 2, "path": "weights/model.bin/x"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "clashes",
    ),
}


@pytest.mark.parametrize("case", list(REGRESSIONS))
def test_inputs_that_once_failed_get_a_clear_status(harness: Harness, case: str) -> None:
    rpc, fields, code, word = REGRESSIONS[case]
    method = METHODS[rpc]
    values = fields(harness.pools()["name"][0])
    if method.client_streaming:
        request: Any = upload_messages(values["name"], values["version"], values["path"], [b"x"])
    else:
        request = GetMessageClass(method.input_type)(**values)
    before = harness.snapshot()
    outcome = invoke(harness.stub, method, request)
    assert (outcome.code, word in outcome.details) == (code, True), outcome
    assert len(outcome.details.encode()) <= MAX_STATUS_MESSAGE_BYTES
    assert harness.snapshot() == before


def _sized(request: Message, field_name: str, size: int) -> Message:
    """``request`` with ``field_name`` padded so it serialises to exactly ``size`` bytes."""
    sized = type(request)()
    sized.CopyFrom(request)
    length = max(size - request.ByteSize() - 8, 0)
    for _ in range(10):
        value: Any = b"\x00" * length if field_name == "chunk" else "x" * length
        setattr(sized, field_name, value)
        missing = size - sized.ByteSize()
        if missing == 0:
            return sized
        length += missing
    raise AssertionError(f"cannot size {type(request).__name__} to {size} bytes")


def _assert_unchanged_once_settled(harness: Harness, before: Any) -> None:
    """After gRPC cuts a stream off, the client has its status while the
    server's handler is still finishing: give it time to do whatever it would
    do (a buggy one records the file), then allow a slow clean-up to finish. The pause
    stays fixed: nothing the client can observe marks the end of the server's handler,
    and "nothing changed" is true before the handler has had its chance to change it."""
    time.sleep(0.3)
    deadline = time.monotonic() + 10
    while (after := harness.snapshot()) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert after == before, (
        f"the refused call changed the registry: {describe_changes(before, after)}"
    )


@pytest.mark.slow
def test_unary_request_over_the_message_limit_is_refused_and_changes_nothing(
    harness: Harness,
) -> None:
    base = pb.CreateRegisteredModelRequest(name=f"oversized-{uuid.uuid4().hex[:8]}")
    before = harness.snapshot()
    with pytest.raises(grpc.RpcError) as over:
        harness.stub.CreateRegisteredModel(
            _sized(base, "description", MAX_MESSAGE_BYTES + 1), timeout=TIMEOUT
        )
    assert over.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert harness.snapshot() == before
    # At the limit, gRPC delivers it and the 64 KiB description rule answers.
    with pytest.raises(grpc.RpcError) as at_limit:
        harness.stub.CreateRegisteredModel(
            _sized(base, "description", MAX_MESSAGE_BYTES), timeout=TIMEOUT
        )
    assert at_limit.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "description" in (at_limit.value.details() or "")
    assert harness.snapshot() == before


@pytest.mark.slow
def test_upload_chunk_over_the_message_limit_is_refused_and_changes_nothing(
    harness: Harness,
) -> None:
    """gRPC ends the server's request stream as if the client had finished
    (grpc/grpc#33038): the upload must not be stored as a truncated file, and
    the path must stay free for the retry."""
    harness.discard_world()  # a fresh pending version 2, whatever earlier tests uploaded
    name = harness.pools()["name"][0]
    chunk = _sized(pb.UploadArtifactRequest(), "chunk", MAX_MESSAGE_BYTES + 1)
    for attempt, lead in enumerate(([], [b"start"], [b"start", b"more"])):
        path = f"too/big-{attempt}.bin"
        before = harness.snapshot()
        with pytest.raises(grpc.RpcError) as over:
            harness.stub.UploadArtifact(
                iter([*upload_messages(name, 2, path, lead), chunk]), timeout=TIMEOUT
            )
        assert over.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        _assert_unchanged_once_settled(harness, before)
        retried = harness.stub.UploadArtifact(
            upload_messages(name, 2, path, [b"retry"]), timeout=TIMEOUT
        )
        assert retried.file.size == len(b"retry")
    harness.discard_world()


@pytest.mark.slow
def test_upload_whose_client_stream_fails_midway_stores_nothing(harness: Harness) -> None:
    """A client whose file read fails mid-upload: the call fails on the
    client's side, and the server must not keep what it got so far."""
    harness.discard_world()
    name = harness.pools()["name"][0]

    def failing(path: str) -> Iterator[pb.UploadArtifactRequest]:
        yield from upload_messages(name, 2, path, [b"first part"])
        raise OSError("the local file could not be read")

    for attempt in range(2):
        before = harness.snapshot()
        with pytest.raises(grpc.RpcError):
            harness.stub.UploadArtifact(failing(f"broken/{attempt}.bin"), timeout=TIMEOUT)
        _assert_unchanged_once_settled(harness, before)


def test_upload_chunk_at_the_message_limit_is_stored(harness: Harness) -> None:
    """The one field made for large content takes a message right at the limit."""
    harness.discard_world()
    name = harness.pools()["name"][0]
    chunk = _sized(pb.UploadArtifactRequest(), "chunk", MAX_MESSAGE_BYTES)
    header = next(upload_messages(name, 2, "at/limit.bin", []))
    stored = harness.stub.UploadArtifact(iter([header, chunk]), timeout=TIMEOUT).file
    assert stored.size == len(chunk.chunk)
    assert stored.sha256 == sha256_hex(chunk.chunk)
    harness.discard_world()
