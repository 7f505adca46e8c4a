"""The machinery of the hostile-input tests (tests/test_hostile_input*.py): the
Hypothesis profile, the fixture "world" whose real names, versions, aliases and paths
the strategies mix in, the `Harness` that knows what "unchanged" means on one backend,
and calling any RPC shape through the generated stub down to its status.

The strategies for hostile field values themselves are in support/hostile.py.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_api.rpcs import RPCS
from registry_server.server import RunningServer
from support.hostile import (
    DatabaseSnapshot,
    Fresh,
    Pools,
    hostile_bytes,
    materialize,
    message_spec,
)

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


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_messages(
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
    stub.UploadArtifact(upload_messages(model, 2, path, [data]), timeout=TIMEOUT, metadata=metadata)
    call(
        "CreateModelVersion",
        name=model,
        registry_held_artifacts=True,
        lineage=pb.Lineage(parent_model_uri=f"models:/{model}/1"),
    )
    for path, data in READY_FILES.items():
        stub.UploadArtifact(
            upload_messages(model, 3, path, [data]), timeout=TIMEOUT, metadata=metadata
        )
    manifest = [
        pb.ArtifactFile(path=p, size=len(d), sha256=sha256_hex(d)) for p, d in READY_FILES.items()
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
        "ArtifactFile.sha256": [sha256_hex(PENDING_FILE[1])],
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


def database_snapshot(running: RunningServer) -> DatabaseSnapshot:
    """One per database: reading the table list once is enough."""
    url = str(running.database.engine.url)
    if url not in _SNAPSHOTS:
        _SNAPSHOTS[url] = DatabaseSnapshot(running.database.engine)
    return _SNAPSHOTS[url]


def describe_changes(before: Any, after: Any) -> str:
    (tables_before, files_before), (tables_after, files_after) = before, after
    changed = [t for t in tables_after if tables_before.get(t) != tables_after[t]]
    added = sorted(set(files_after) - set(files_before))[:5]
    removed = sorted(set(files_before) - set(files_after))[:5]
    return f"tables changed: {changed}; files added: {added}; files removed: {removed}"


def shown(request: Any) -> str:
    """The request as sent, for failure messages (a stream is not replayable)."""
    if not isinstance(request, Message):
        return "(a request stream)"
    text = repr(request)
    return text if len(text) <= 2000 else text[:2000] + "..."


def message_class(method: MethodDescriptor) -> type[Message]:
    return GetMessageClass(method.input_type)


# ------------------------------------------------------------ calling RPCs


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str


#: Server streams that run until the caller stops them.
ENDLESS_STREAMS = frozenset({"WatchModelEvents"})


def invoke(
    stub: Any,
    method: MethodDescriptor,
    request: Any,
    metadata: tuple[tuple[str, str], ...] = ACTOR,
) -> Outcome:
    """Call any RPC shape and reduce the answer to its status."""
    rpc = getattr(stub, method.name)
    try:
        if method.name in ENDLESS_STREAMS:
            # Accepted, it never ends: its first message (a heartbeat) shows
            # the request was taken; refused, the error comes first.
            call = rpc(request, timeout=TIMEOUT, metadata=metadata)
            next(call)
            call.cancel()
        elif method.server_streaming:
            for _ in rpc(request, timeout=TIMEOUT, metadata=metadata):
                pass
        else:
            rpc(request, timeout=TIMEOUT, metadata=metadata)
    except grpc.RpcError as exc:
        return Outcome(exc.code(), exc.details() or "")
    return Outcome(grpc.StatusCode.OK, "")


UPLOAD_SHAPES = ("header then chunks", "no header", "two headers", "chunk before header", "empty")


@st.composite
def upload_stream(draw: st.DrawFn) -> dict[str, Any]:
    """UploadArtifact's stream: a hostile header and chunks, in hostile orders."""
    header = draw(message_spec(pb.UploadArtifactRequest.Header.DESCRIPTOR, POOL_KEYS))
    chunks = draw(st.lists(hostile_bytes() | st.just(b"model bytes"), max_size=3))
    shape = draw(st.sampled_from(UPLOAD_SHAPES))
    return {"header": header, "chunks": chunks, "shape": shape}


def upload_request(spec: dict[str, Any], pools: Pools) -> list[Message]:
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
    "UploadArtifact": (upload_stream(), upload_request),
}


@functools.cache
def request_strategy(name: str) -> st.SearchStrategy[Any]:
    method = METHODS[name]
    if method.client_streaming:
        return CLIENT_STREAM_DRIVERS[name][0]
    return message_spec(method.input_type, POOL_KEYS)


def build_request(method: MethodDescriptor, spec: Any, pools: Pools) -> Any:
    if method.client_streaming:
        return iter(CLIENT_STREAM_DRIVERS[method.name][1](spec, pools))
    return materialize(message_class(method), spec, pools)
