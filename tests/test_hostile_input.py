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

``HYPOTHESIS_PROFILE=long`` runs many more examples per RPC.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.auth import auth_server
from support.hostile import (
    DatabaseSnapshot,
    Fresh,
    Pools,
    bucket_listing,
    folder_listing,
    hostile_bytes,
    materialize,
    message_spec,
)
from support.s3 import S3Endpoint

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_api.rpcs import RPCS
from registry_server.api.interceptors import INTERNAL_MESSAGE, MAX_STATUS_MESSAGE_BYTES
from registry_server.server import MAX_MESSAGE_BYTES, RunningServer

settings.register_profile(
    "hostile",
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    print_blob=True,
)
settings.register_profile("long", settings.get_profile("hostile"), max_examples=400)
HOSTILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "hostile"))

SERVICE = pb.DESCRIPTOR.services_by_name["ModelRegistry"]
METHODS: dict[str, MethodDescriptor] = {m.name: m for m in SERVICE.methods}
CLEAR = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)
# RPCs that must never write, whatever they answer (NO_SIDE_EFFECTS in the .proto).
READ_ONLY = frozenset(name for name, facts in RPCS.items() if facts.read_only)
# Accepted calls of these on the world's model take the world apart (the model
# or a version gone, the pending version no longer pending): build a new one
# after them. Others (a tag or alias deleted, a stage moved, the second model
# renamed) only make later examples shallower.
WORLD_BREAKERS = frozenset(
    {
        "DeleteRegisteredModel",
        "RenameRegisteredModel",
        "DeleteModelVersion",
        "FinalizeModelVersion",
        "AbortModelVersion",
    }
)
ACTOR = (("registry-actor", "hostile-suite"),)
TIMEOUT = 60.0

# -------------------------------------------------------------------- world

# Every pool the world fills; strategies are built from these names before
# any world exists. "Message.field" beats "field".
POOL_KEYS: tuple[str, ...] = (
    "name", "new_name", "description", "key", "value", "Tag.key", "Tag.value", "stages",
    "stage", "source", "run_id", "run_link", "experiment_id", "code_version",
    "DatasetReference.name", "digest", "source_uri", "parent_model_uri", "idempotency_key",
    "version", "ListModelEventsRequest.version", "Header.version", "alias", "expected_version",
    "uri", "SearchRegisteredModelsRequest.filter", "SearchModelVersionsRequest.filter",
    "SearchRegisteredModelsRequest.order_by", "SearchModelVersionsRequest.order_by",
    "page_size", "page_token", "max_depth", "after_event_id", "kinds", "actor",
    "since_timestamp", "until_timestamp", "as_of_timestamp", "path", "Header.path", "paths",
    "ArtifactFile.path", "ArtifactFile.size", "ArtifactFile.sha256", "reason", "offset",
    "expires_in_seconds", "chunk", "protected_aliases", "protected_stages", "principal",
    "token_id", "role", "CreateRegisteredModelRequest.name", "ListArtifactsRequest.name",
    "ListArtifactsRequest.version", "ListArtifactsRequest.uri",
    "FinalizeModelVersionRequest.version", "AbortModelVersionRequest.version",
)  # fmt: skip

PENDING_FILE = ("weights/model.bin", b"pending weights")
READY_FILES = {"model.bin": b"ready weights", "conf/params.json": b'{"lr": 0.1}'}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _upload_messages(
    name: str, version: int, path: str, chunks: list[bytes]
) -> Iterator[pb.UploadArtifactRequest]:
    header = pb.UploadArtifactRequest.Header(name=name, version=version, path=path)
    yield pb.UploadArtifactRequest(header=header)
    for chunk in chunks:
        yield pb.UploadArtifactRequest(chunk=chunk)


def build_world(
    stub: registry_pb2_grpc.ModelRegistryStub, metadata: tuple[tuple[str, str], ...] = ACTOR
) -> dict[str, list[Any]]:
    """A model with one version in each interesting state, and the pools of
    real values pointing into it.

    Version 1: READY, external source, in Staging, alias ``champion``, tag, run
    and data set. 2: registry-held, PENDING with one file uploaded. 3:
    registry-held, READY with two files, derived from 1. 4: FAILED_REGISTRATION.
    A second, empty model is there to collide with.
    """
    tag = uuid.uuid4().hex[:8]
    model, other = f"hostile-{tag}", f"hostile-other-{tag}"
    run_id, digest = f"run-{tag}", f"sha256:{tag}"

    def call(rpc: str, **fields: Any) -> Any:
        request = getattr(pb, f"{rpc}Request")(**fields)
        return getattr(stub, rpc)(request, timeout=TIMEOUT, metadata=metadata)

    call("CreateRegisteredModel", name=model, tags=[pb.Tag(key="team", value="ml")])
    call("CreateRegisteredModel", name=other)
    call(
        "CreateModelVersion",
        name=model,
        source="s3://bucket/run/1/model",
        run_id=run_id,
        tags=[pb.Tag(key="k", value="v")],
        lineage=pb.Lineage(datasets=[pb.DatasetReference(name="ds-train", digest=digest)]),
    )
    call("TransitionModelVersionStage", name=model, version=1, stage="Staging")
    call("SetRegisteredModelAlias", name=model, alias="champion", version=1)
    call("CreateModelVersion", name=model, registry_held_artifacts=True)
    path, data = PENDING_FILE
    stub.UploadArtifact(
        _upload_messages(model, 2, path, [data]), timeout=TIMEOUT, metadata=metadata
    )
    call(
        "CreateModelVersion",
        name=model,
        registry_held_artifacts=True,
        lineage=pb.Lineage(parent_model_uri=f"models:/{model}/1"),
    )
    for path, data in READY_FILES.items():
        stub.UploadArtifact(
            _upload_messages(model, 3, path, [data]), timeout=TIMEOUT, metadata=metadata
        )
    manifest = [
        pb.ArtifactFile(path=p, size=len(d), sha256=_digest(d)) for p, d in READY_FILES.items()
    ]
    call("FinalizeModelVersion", name=model, version=3, expected_manifest=manifest)
    call("CreateModelVersion", name=model, registry_held_artifacts=True)
    call("AbortModelVersion", name=model, version=4, reason="hostile-suite gave up")
    token = call(
        "CreateAccessToken", principal=f"hostile-{tag}", role=pb.ROLE_READER, description="fuzz"
    ).token
    built_ms = time.time_ns() // 1_000_000
    pools: dict[str, list[Any]] = {
        "name": [model, other],
        "CreateRegisteredModelRequest.name": [Fresh("hostile-new"), model],
        "new_name": [other, model, Fresh("hostile-renamed")],
        "description": ["a description", ""],
        "key": ["team", "k"],
        "value": ["ml"],
        "Tag.key": ["team", "k"],
        "Tag.value": ["ml"],
        "stages": ["Staging", "production", "None", "archived"],
        "stage": ["Staging", "production", "None", "archived"],
        "source": ["s3://bucket/run/1/model", ""],
        "run_id": [run_id],
        "run_link": ["https://tracking.example/run/1"],
        "experiment_id": ["exp-1"],
        "code_version": ["0123abc"],
        "DatasetReference.name": ["ds-train"],
        "digest": [digest],
        "source_uri": ["s3://data/train/"],
        "parent_model_uri": [f"models:/{model}/1", f"models:/{model}@champion"],
        "idempotency_key": [f"idem-{tag}"],
        "version": [1, 2, 3, 4],
        "ListModelEventsRequest.version": [0, 1],
        "Header.version": [2, 2, 3, 1],
        "alias": ["champion", "challenger"],
        "expected_version": [0, 1],
        "uri": [
            f"models:/{model}/1",
            f"models:/{model}@champion",
            f"models:/{model}/latest",
            f"models:/{model}/staging",
            f"models:/{model}/3/conf",
        ],
        "SearchRegisteredModelsRequest.filter": [
            f"name = '{model}'",
            "name LIKE 'hostile-%' AND tags.team = 'ml'",
        ],
        "SearchModelVersionsRequest.filter": [
            f"name = '{model}' AND version_number >= 1",
            f"run_id = '{run_id}' OR dataset.digest = '{digest}'",
            "current_stage = 'staging'",
        ],
        "SearchRegisteredModelsRequest.order_by": ["name DESC", "last_updated_timestamp"],
        "SearchModelVersionsRequest.order_by": ["version_number DESC", "name"],
        "page_size": [0, 1, 2],
        "page_token": [""],
        "max_depth": [0, 1],
        "after_event_id": [0],
        "kinds": ["alias_set", "model_created"],
        "actor": ["hostile-suite", "anonymous"],
        "since_timestamp": [0],
        "until_timestamp": [0],
        "as_of_timestamp": [built_ms],
        "path": ["model.bin", "conf/params.json", "weights/model.bin"],
        "Header.path": [Fresh("new/file"), "weights", "weights/model.bin/x", "model.bin"],
        "paths": ["model.bin", "conf/params.json"],
        "ArtifactFile.path": [PENDING_FILE[0]],
        "ArtifactFile.size": [len(PENDING_FILE[1])],
        "ArtifactFile.sha256": [_digest(PENDING_FILE[1])],
        "reason": ["gave up"],
        "offset": [0, 1],
        "expires_in_seconds": [0, 60],
        "chunk": [b"model bytes"],
        "protected_aliases": ["champion"],
        "protected_stages": ["Production"],
        "principal": ["alice", "hostile-suite"],
        "token_id": [token.token_id],
        "role": [pb.ROLE_READER, pb.ROLE_WRITER, pb.ROLE_NONE, pb.ROLE_ADMIN],
        # Either name and version or a URI: each may be empty, so both shapes occur.
        "ListArtifactsRequest.name": [model, ""],
        "ListArtifactsRequest.version": [3, 0, 2],
        "ListArtifactsRequest.uri": ["", f"models:/{model}/3", f"models:/{model}/latest/conf"],
        "FinalizeModelVersionRequest.version": [2],
        "AbortModelVersionRequest.version": [2, 4, 1],
    }
    assert set(pools) == set(POOL_KEYS), set(pools) ^ set(POOL_KEYS)
    return pools


# ------------------------------------------------------------------ harness


# One world per server, shared by the tests until an accepted call breaks it:
# building one costs more than a dozen examples.
_WORLDS: dict[str, Pools] = {}


class Harness:
    """One backend: a stub, the world, and what "unchanged" means there.
    (A plain class: Hypothesis prints dataclasses field by field in failure
    reports, snapshots included.)"""

    def __init__(
        self,
        target: str,
        stub: registry_pb2_grpc.ModelRegistryStub,
        database: DatabaseSnapshot,
        listing: Callable[[], list[tuple[Any, ...]]],
        setup_metadata: tuple[tuple[str, str], ...] = ACTOR,
    ) -> None:
        self.target = target
        self.stub = stub
        self.database = database
        self.listing = listing
        self.setup_metadata = setup_metadata
        # The state after the last call known to have changed nothing: the
        # "before" of the next call, which halves the snapshots taken.
        self.settled: Any = None

    def pools(self) -> Pools:
        world = _WORLDS.get(self.target)
        if world is None:
            world = _WORLDS[self.target] = build_world(self.stub, self.setup_metadata)
            self.settled = None
        return world

    def discard_world(self) -> None:
        _WORLDS.pop(self.target, None)

    def snapshot(self) -> tuple[dict[str, tuple[int, str]], list[tuple[Any, ...]]]:
        return self.database.take(), self.listing()

    def before(self) -> Any:
        if self.settled is None:
            self.settled = self.snapshot()
        return self.settled

    def __repr__(self) -> str:  # failure reports print the fixture: keep it short
        world = _WORLDS.get(self.target)
        return f"Harness(model={world['name'][0] if world else None!r})"


_SNAPSHOTS: dict[str, DatabaseSnapshot] = {}


def _database_snapshot(running: RunningServer) -> DatabaseSnapshot:
    """One per database: reading the table list once is enough."""
    url = str(running.database.engine.url)
    if url not in _SNAPSHOTS:
        _SNAPSHOTS[url] = DatabaseSnapshot(running.database.engine)
    return _SNAPSHOTS[url]


@pytest.fixture
def harness(
    registry: RunningServer, backend: str, target: str, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    if backend == "sqlite":
        root: Path = request.getfixturevalue("sqlite_artifact_dir")

        def listing() -> list[tuple[Any, ...]]:
            return list(folder_listing(root))

    else:
        s3: S3Endpoint = request.getfixturevalue("s3")
        bucket = urlsplit(request.getfixturevalue("pg_artifact_store")).netloc
        minio = s3.client()

        def listing() -> list[tuple[Any, ...]]:
            return list(bucket_listing(minio, bucket))

    database = _database_snapshot(registry)
    with grpc.insecure_channel(target) as channel:
        yield Harness(target, registry_pb2_grpc.ModelRegistryStub(channel), database, listing)


def _changes(before: Any, after: Any) -> str:
    (tables_before, files_before), (tables_after, files_after) = before, after
    changed = [t for t in tables_after if tables_before.get(t) != tables_after[t]]
    added = sorted(set(files_after) - set(files_before))[:5]
    removed = sorted(set(files_before) - set(files_after))[:5]
    return f"tables changed: {changed}; files added: {added}; files removed: {removed}"


def _shown(request: Any) -> str:
    """The request as sent, for failure messages (a stream is not replayable)."""
    if not isinstance(request, Message):
        return "(a request stream)"
    text = repr(request)
    return text if len(text) <= 2000 else text[:2000] + "..."


def _message_class(method: MethodDescriptor) -> type[Message]:
    return GetMessageClass(method.input_type)


# ------------------------------------------------------------ calling RPCs


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str


def _invoke(
    stub: Any,
    method: MethodDescriptor,
    request: Any,
    metadata: tuple[tuple[str, str], ...] = ACTOR,
) -> Outcome:
    """Call any RPC shape and reduce the answer to its status."""
    rpc = getattr(stub, method.name)
    try:
        if method.server_streaming:
            for _ in rpc(request, timeout=TIMEOUT, metadata=metadata):
                pass
        else:
            rpc(request, timeout=TIMEOUT, metadata=metadata)
    except grpc.RpcError as exc:
        return Outcome(exc.code(), exc.details() or "")
    return Outcome(grpc.StatusCode.OK, "")


UPLOAD_SHAPES = ("header then chunks", "no header", "two headers", "chunk before header", "empty")


@st.composite
def _upload_stream(draw: st.DrawFn) -> dict[str, Any]:
    """UploadArtifact's stream: a hostile header and chunks, in hostile orders."""
    header = draw(message_spec(pb.UploadArtifactRequest.Header.DESCRIPTOR, POOL_KEYS))
    chunks = draw(st.lists(hostile_bytes() | st.just(b"model bytes"), max_size=3))
    shape = draw(st.sampled_from(UPLOAD_SHAPES))
    return {"header": header, "chunks": chunks, "shape": shape}


def _upload_request(spec: dict[str, Any], pools: Pools) -> list[Message]:
    header = pb.UploadArtifactRequest(
        header=materialize(pb.UploadArtifactRequest.Header, spec["header"], pools)
    )
    chunks = [pb.UploadArtifactRequest(chunk=c) for c in spec["chunks"]]
    return {
        "header then chunks": [header, *chunks],
        "no header": chunks,
        "two headers": [header, *chunks, header],
        "chunk before header": [pb.UploadArtifactRequest(chunk=b"x"), header, *chunks],
        "empty": [],
    }[spec["shape"]]


# Streaming RPCs need to be told how their stream is shaped.
CLIENT_STREAM_DRIVERS: dict[str, tuple[st.SearchStrategy[Any], Callable[..., Any]]] = {
    "UploadArtifact": (_upload_stream(), _upload_request),
}


@functools.cache
def _request_strategy(name: str) -> st.SearchStrategy[Any]:
    method = METHODS[name]
    if method.client_streaming:
        return CLIENT_STREAM_DRIVERS[name][0]
    return message_spec(method.input_type, POOL_KEYS)


def _build_request(method: MethodDescriptor, spec: Any, pools: Pools) -> Any:
    if method.client_streaming:
        return iter(CLIENT_STREAM_DRIVERS[method.name][1](spec, pools))
    return materialize(_message_class(method), spec, pools)


# -------------------------------------------------------------------- tests


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
    spec = data.draw(_request_strategy(method_name), label="request")
    pools = harness.pools()
    request = _build_request(method, spec, pools)
    before = harness.before()
    harness.settled = None  # until this call is shown to have changed nothing
    outcome = _invoke(harness.stub, method, request)
    event(outcome.code.name)  # --hypothesis-show-statistics: how deep the examples got
    assert outcome.code in CLEAR, (
        f"{method_name} answered {outcome.code.name}: {outcome.details}\n{_shown(request)}"
    )
    if outcome.code is not grpc.StatusCode.OK:
        assert outcome.details.strip(), f"{method_name} {outcome.code.name} says nothing"
        assert outcome.details != INTERNAL_MESSAGE
    if outcome.code is not grpc.StatusCode.OK or method_name in READ_ONLY:
        after = harness.snapshot()
        assert after == before, (
            f"{method_name} answered {outcome.code.name} ({outcome.details[:200]}) "
            f"but changed the registry: {_changes(before, after)}"
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
        request: Any = _upload_messages(values["name"], values["version"], values["path"], [b"x"])
    else:
        request = GetMessageClass(method.input_type)(**values)
    before = harness.snapshot()
    outcome = _invoke(harness.stub, method, request)
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
    do (a buggy one records the file), then allow a slow clean-up to finish."""
    time.sleep(0.3)
    deadline = time.monotonic() + 10
    while (after := harness.snapshot()) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert after == before, f"the refused call changed the registry: {_changes(before, after)}"


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
                iter([*_upload_messages(name, 2, path, lead), chunk]), timeout=TIMEOUT
            )
        assert over.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        _assert_unchanged_once_settled(harness, before)
        retried = harness.stub.UploadArtifact(
            _upload_messages(name, 2, path, [b"retry"]), timeout=TIMEOUT
        )
        assert retried.file.size == len(b"retry")
    harness.discard_world()


def test_upload_whose_client_stream_fails_midway_stores_nothing(harness: Harness) -> None:
    """A client whose file read fails mid-upload: the call fails on the
    client's side, and the server must not keep what it got so far."""
    harness.discard_world()
    name = harness.pools()["name"][0]

    def failing(path: str) -> Iterator[pb.UploadArtifactRequest]:
        yield from _upload_messages(name, 2, path, [b"first part"])
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
    header = next(_upload_messages(name, 2, "at/limit.bin", []))
    stored = harness.stub.UploadArtifact(iter([header, chunk]), timeout=TIMEOUT).file
    assert stored.size == len(chunk.chunk)
    assert stored.sha256 == _digest(chunk.chunk)
    harness.discard_world()


# ------------------------------------------------------- with authentication

ROLES = ("none", "reader", "writer", "admin")
_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)  # what metadata may carry


@dataclass
class AuthBackend:
    """A server with authentication on (SQLite), tokens of every global role,
    and a second view of the database that leaves out access_denied events:
    a refused mutation is recorded in the history on purpose."""

    harness: Harness
    secrets: dict[str, str]
    lenient: DatabaseSnapshot


@pytest.fixture(scope="module")
def auth_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthBackend]:
    folder = tmp_path_factory.mktemp("hostile-auth")
    with auth_server(f"sqlite:///{folder / 'registry.db'}", folder, "sqlite") as server:
        secrets = {role: server.token(f"hostile-{role}", role) for role in ROLES}
        engine = server.running.database.engine
        admin = (("authorization", f"Bearer {secrets['admin']}"),)
        with grpc.insecure_channel(server.target) as channel:
            harness = Harness(
                server.target,
                registry_pb2_grpc.ModelRegistryStub(channel),
                DatabaseSnapshot(engine),
                lambda: folder_listing(folder / "artifacts"),
                setup_metadata=admin,
            )
            lenient = DatabaseSnapshot(engine, ignore={"model_events": "kind = 'access_denied'"})
            yield AuthBackend(harness, secrets, lenient)


def _authorization(secrets: dict[str, str]) -> st.SearchStrategy[str | None]:
    """No header, every role's real token, and malformed or forged ones."""
    real = st.sampled_from([f"Bearer {secrets[role]}" for role in ROLES])
    return st.one_of(
        real,
        st.none(),
        real,
        st.sampled_from(
            [
                "",
                "Bearer",
                "Bearer ",
                f"bearer  {secrets['admin']}",
                f"Basic {secrets['admin']}",
                f"Bearer {secrets['admin'][:-1]}",
                "Bearer ' OR 1=1 --",
                "Bearer %",
                "Bearer " + "a" * 4000,
            ]
        ),
        st.text(_ASCII, max_size=60),
        st.text(_ASCII, max_size=60).map("Bearer ".__add__),
    )


@settings(HOSTILE, max_examples=HOSTILE.max_examples * 3)
@given(data=st.data())
def test_with_authentication_hostile_tokens_and_fields_are_answered_clearly(
    auth_backend: AuthBackend, data: st.DataObject
) -> None:
    """Any RPC, any role or forged token, hostile fields: a clear status, and
    a refusal changes nothing (a refused mutation adds its access_denied event
    to the history, nothing else)."""
    harness = auth_backend.harness
    method_name = data.draw(st.sampled_from(list(METHODS)), label="method")
    method = METHODS[method_name]
    spec = data.draw(_request_strategy(method_name), label="request")
    authorization = data.draw(_authorization(auth_backend.secrets), label="authorization")
    metadata = ACTOR + ((("authorization", authorization),) if authorization is not None else ())
    request = _build_request(method, spec, harness.pools())
    before, before_lenient = harness.snapshot(), auth_backend.lenient.take()
    outcome = _invoke(harness.stub, method, request, metadata)
    event(outcome.code.name)
    assert outcome.code in CLEAR, (
        f"{method_name} answered {outcome.code.name}: {outcome.details}\n{_shown(request)}"
    )
    if outcome.code is not grpc.StatusCode.OK:
        assert outcome.details.strip(), f"{method_name} {outcome.code.name} says nothing"
    recorded_refusal = (
        outcome.code is grpc.StatusCode.PERMISSION_DENIED and method_name not in READ_ONLY
    )
    if recorded_refusal:
        assert auth_backend.lenient.take() == before_lenient, (
            f"refused {method_name} changed more than the history: {outcome.details[:200]}"
        )
        assert harness.listing() == before[1]
    elif outcome.code is not grpc.StatusCode.OK or method_name in READ_ONLY:
        after = harness.snapshot()
        assert after == before, (
            f"{method_name} answered {outcome.code.name} ({outcome.details[:200]}) "
            f"but changed the registry: {_changes(before, after)}"
        )
    elif method_name in WORLD_BREAKERS and request.name == harness.pools()["name"][0]:
        harness.discard_world()
