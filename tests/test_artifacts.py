"""Registry-held artifacts, server side: upload rules, finalize, freeze, abort,
lifecycle rules for pending versions, deletes and gc. Runs on the embedded
default (SQLite + folder) and on PostgreSQL + S3. Calls go through the
generated stub where a test needs to send malformed streams."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
from support.s3 import S3Endpoint

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import ArtifactFile, FailedPrecondition, NotFound, RegistryClient
from registry_server.artifacts import factory as artifact_factory
from registry_server.artifacts.local import LocalArtifactStore
from registry_server.server import RunningServer


def _upload(stub, name: str, version: int, path: str, data: bytes, chunk: int = 64 * 1024):
    def messages():
        yield pb.UploadArtifactRequest(
            header=pb.UploadArtifactRequest.Header(name=name, version=version, path=path)
        )
        for i in range(0, len(data), chunk):
            yield pb.UploadArtifactRequest(chunk=data[i : i + chunk])

    return stub.UploadArtifact(messages(), timeout=30).file


def _entry(path: str, data: bytes) -> pb.ArtifactFile:
    return pb.ArtifactFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _pending(client: RegistryClient, name: str) -> int:
    client.create_registered_model(name)
    return client.create_model_version(name, registry_held_artifacts=True).version


def _code(exc_info: pytest.ExceptionInfo[grpc.RpcError]) -> grpc.StatusCode:
    return exc_info.value.code()


def test_upload_finalize_download_round_trip(client: RegistryClient, stub, model_name: str) -> None:
    version = _pending(client, model_name)
    pending = client.get_model_version(model_name, version)
    assert pending.status == "PENDING_REGISTRATION"
    assert pending.registry_held_artifacts
    assert pending.source == f"models:/{model_name}/{version}"
    files = {
        "model.bin": os.urandom(3 * 1024 * 1024 + 7),
        "conf/params.json": b'{"a": 1}',
        "empty.txt": b"",
    }
    for path, data in files.items():
        stored = _upload(stub, model_name, version, path, data)
        assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    ready = stub.FinalizeModelVersion(
        pb.FinalizeModelVersionRequest(
            name=model_name,
            version=version,
            expected_manifest=[_entry(p, d) for p, d in files.items()],
        )
    ).model_version
    assert ready.status == pb.MODEL_VERSION_STATUS_READY
    listed = stub.ListArtifacts(pb.ListArtifactsRequest(uri=f"models:/{model_name}/latest"))
    assert [f.path for f in listed.files] == sorted(files)
    for path, data in files.items():
        body = b"".join(
            r.chunk
            for r in stub.DownloadArtifact(
                pb.DownloadArtifactRequest(name=model_name, version=version, path=path)
            )
        )
        assert body == data
    # Resume from an offset.
    tail = b"".join(
        r.chunk
        for r in stub.DownloadArtifact(
            pb.DownloadArtifactRequest(
                name=model_name, version=version, path="model.bin", offset=1000
            )
        )
    )
    assert tail == files["model.bin"][1000:]
    kinds = [e.kind for e in client.iter_model_events(model_name)]
    assert kinds[-1] == "version_status_changed"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "required"),
        ("/etc/passwd", "relative"),
        ("../escape", "normalised"),
        ("a/../../b", "normalised"),
        ("a//b", "normalised"),
        ("./a", "normalised"),
        ("a/", "normalised"),
        ("dir\\file", "backslash"),
        ("tab\tname", "control"),
    ],
)
def test_bad_paths_store_nothing(
    client: RegistryClient, stub, model_name: str, path: str, why: str
) -> None:
    version = _pending(client, model_name)
    with pytest.raises(grpc.RpcError) as info:
        _upload(stub, model_name, version, path, b"data")
    assert _code(info) == grpc.StatusCode.INVALID_ARGUMENT
    assert why in info.value.details()
    listed = stub.ListArtifacts(pb.ListArtifactsRequest(name=model_name, version=version))
    assert list(listed.files) == []


def test_duplicate_upload_is_rejected_and_keeps_the_first(
    client: RegistryClient, stub, model_name: str
) -> None:
    version = _pending(client, model_name)
    _upload(stub, model_name, version, "a.bin", b"first")
    with pytest.raises(grpc.RpcError) as info:
        _upload(stub, model_name, version, "a.bin", b"second")
    assert _code(info) == grpc.StatusCode.ALREADY_EXISTS
    assert "already uploaded" in info.value.details()
    stub.FinalizeModelVersion(
        pb.FinalizeModelVersionRequest(
            name=model_name, version=version, expected_manifest=[_entry("a.bin", b"first")]
        )
    )
    body = b"".join(
        r.chunk
        for r in stub.DownloadArtifact(
            pb.DownloadArtifactRequest(name=model_name, version=version, path="a.bin")
        )
    )
    assert body == b"first"


def test_stream_without_header_is_invalid(client: RegistryClient, stub, model_name: str) -> None:
    _pending(client, model_name)
    with pytest.raises(grpc.RpcError) as info:
        stub.UploadArtifact(iter([pb.UploadArtifactRequest(chunk=b"x")]))
    assert _code(info) == grpc.StatusCode.INVALID_ARGUMENT
    assert "header" in info.value.details()


def test_finalize_mismatch_names_the_file_and_stays_pending(
    client: RegistryClient, stub, model_name: str
) -> None:
    version = _pending(client, model_name)
    _upload(stub, model_name, version, "a.bin", b"aaaa")
    _upload(stub, model_name, version, "b.bin", b"bbbb")

    def finalize(manifest):
        return stub.FinalizeModelVersion(
            pb.FinalizeModelVersionRequest(
                name=model_name, version=version, expected_manifest=manifest
            )
        )

    cases = [
        ([_entry("a.bin", b"aaaa")], "'b.bin' was uploaded but is not declared"),
        (
            [_entry("a.bin", b"aaaa"), _entry("b.bin", b"bbbb"), _entry("c.bin", b"c")],
            "'c.bin' was not uploaded",
        ),
        ([_entry("a.bin", b"aaaa"), _entry("b.bin", b"bbbbb")], "'b.bin' has 4 bytes"),
        ([_entry("a.bin", b"aaaa"), _entry("b.bin", b"BBBB")], "'b.bin' has sha256"),
    ]
    for manifest, message in cases:
        with pytest.raises(grpc.RpcError) as info:
            finalize(manifest)
        assert _code(info) == grpc.StatusCode.FAILED_PRECONDITION
        assert message in info.value.details()
        assert client.get_model_version(model_name, version).status == "PENDING_REGISTRATION"
    with pytest.raises(grpc.RpcError) as info:
        finalize([_entry("a.bin", b"aaaa"), _entry("a.bin", b"aaaa")])
    assert _code(info) == grpc.StatusCode.INVALID_ARGUMENT
    bad = _entry("a.bin", b"aaaa")
    bad.sha256 = "XYZ"
    with pytest.raises(grpc.RpcError) as info:
        finalize([bad, _entry("b.bin", b"bbbb")])
    assert "expected_manifest[0].sha256" in info.value.details()
    assert finalize([_entry("a.bin", b"aaaa"), _entry("b.bin", b"bbbb")]).model_version.status == (
        pb.MODEL_VERSION_STATUS_READY
    )


def test_ready_versions_are_frozen(client: RegistryClient, stub, model_name: str) -> None:
    version = _pending(client, model_name)
    _upload(stub, model_name, version, "a.bin", b"aaaa")
    stub.FinalizeModelVersion(
        pb.FinalizeModelVersionRequest(
            name=model_name, version=version, expected_manifest=[_entry("a.bin", b"aaaa")]
        )
    )
    with pytest.raises(grpc.RpcError) as info:
        _upload(stub, model_name, version, "late.bin", b"x")
    assert _code(info) == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as info:
        stub.FinalizeModelVersion(
            pb.FinalizeModelVersionRequest(
                name=model_name, version=version, expected_manifest=[_entry("a.bin", b"aaaa")]
            )
        )
    assert _code(info) == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as info:
        stub.AbortModelVersion(pb.AbortModelVersionRequest(name=model_name, version=version))
    assert _code(info) == grpc.StatusCode.FAILED_PRECONDITION


def test_pending_versions_cannot_be_resolved_promoted_or_aliased(
    client: RegistryClient, stub, model_name: str
) -> None:
    version = _pending(client, model_name)
    with pytest.raises(NotFound, match="PENDING_REGISTRATION"):
        client.resolve(f"models:/{model_name}/{version}")
    with pytest.raises(NotFound, match="no READY version"):
        client.resolve(f"models:/{model_name}/latest")
    with pytest.raises(FailedPrecondition, match="only READY"):
        client.transition_model_version_stage(model_name, version, "Production")
    with pytest.raises(FailedPrecondition, match="only READY"):
        client.set_registered_model_alias(model_name, "champion", version)
    with pytest.raises(grpc.RpcError) as info:
        list(
            stub.DownloadArtifact(
                pb.DownloadArtifactRequest(name=model_name, version=version, path="a.bin")
            )
        )
    assert _code(info) == grpc.StatusCode.FAILED_PRECONDITION
    # An external-source version next to it keeps working as before.
    external = client.create_model_version(model_name, source="s3://elsewhere/model")
    assert client.resolve(f"models:/{model_name}/latest").model_version.version == external.version
    with pytest.raises(grpc.RpcError) as info:
        stub.ListArtifacts(pb.ListArtifactsRequest(name=model_name, version=external.version))
    assert _code(info) == grpc.StatusCode.FAILED_PRECONDITION
    assert "s3://elsewhere/model" in info.value.details()


def test_source_must_be_empty_for_registry_held(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    with pytest.raises(Exception, match="source must be empty"):
        client.create_model_version(model_name, source="s3://x", registry_held_artifacts=True)


def _object_keys(registry: RunningServer) -> set[str]:
    store = registry.store
    return set(store.list_keys())


def test_abort_and_deletes_remove_objects(
    client: RegistryClient, stub, registry: RunningServer, model_name: str
) -> None:
    def uploaded(version: int, path: str, data: bytes) -> set[str]:
        """Upload a file and return the object keys it added."""
        before = _object_keys(registry)
        _upload(stub, model_name, version, path, data)
        added = _object_keys(registry) - before
        assert len(added) == 1
        return added

    v1 = _pending(client, model_name)
    key1 = uploaded(v1, "a.bin", b"aaaa")
    aborted = stub.AbortModelVersion(
        pb.AbortModelVersionRequest(name=model_name, version=v1, reason="tests failed")
    ).model_version
    assert aborted.status == pb.MODEL_VERSION_STATUS_FAILED_REGISTRATION
    assert aborted.status_message == "tests failed"
    assert not (key1 & _object_keys(registry))
    with pytest.raises(grpc.RpcError) as info:
        _upload(stub, model_name, v1, "b.bin", b"b")
    assert _code(info) == grpc.StatusCode.FAILED_PRECONDITION

    v2 = client.create_model_version(model_name, registry_held_artifacts=True).version
    key2 = uploaded(v2, "a.bin", b"aaaa")
    stub.FinalizeModelVersion(
        pb.FinalizeModelVersionRequest(
            name=model_name, version=v2, expected_manifest=[_entry("a.bin", b"aaaa")]
        )
    )
    v3 = client.create_model_version(model_name, registry_held_artifacts=True).version
    key3 = uploaded(v3, "b.bin", b"bbbb")
    client.delete_model_version(model_name, v2)
    assert not (key2 & _object_keys(registry))
    assert key3 <= _object_keys(registry)
    client.delete_registered_model(model_name)
    assert not (key3 & _object_keys(registry))


def test_gc_removes_orphans_only(
    client: RegistryClient, stub, registry: RunningServer, model_name: str
) -> None:
    version = _pending(client, model_name)
    store = registry.store
    before = set(store.list_keys())
    _upload(stub, model_name, version, "keep.bin", b"keep")
    owned = set(store.list_keys()) - before
    store.put_stream("999999/1/orphan.bin", iter([b"crashed upload"]))
    removed = registry.artifacts.collect_garbage()
    assert "999999/1/orphan.bin" in removed
    assert not owned & set(removed)
    assert owned <= set(store.list_keys())
    assert "999999/1/orphan.bin" not in set(store.list_keys())


def _path_of(size: int) -> str:
    """A valid artifact path of exactly ``size`` bytes: folders of 200
    characters, then a file name of at most 255 (the limit per name)."""
    parts, left = [], size
    while left > 255:
        parts.append("d" * 200)
        left -= 201
    return "/".join([*parts, "f" * left])


def test_a_path_too_long_for_the_s3_key_is_refused_and_the_longest_that_fits_is_stored(
    pg_client: RegistryClient,
    pg_target: str,
    postgres_server_handle: RunningServer,
    pg_artifact_store: str,
    s3: S3Endpoint,
    model_name: str,
    tmp_path: Path,
) -> None:
    # S3 keys hold at most 1,024 bytes, and the server's key is the store's
    # prefix, the model's id and the version number before the path: a path
    # within the 1,024 bytes paths may have can still be too long for S3.
    # moto takes such keys; AWS S3 and MinIO refuse them (the upload used to
    # fail with INTERNAL there).
    store = postgres_server_handle.store
    assert store.max_key_bytes == 1024 - len(store.prefix) - 1
    version = _pending(pg_client, model_name)
    with grpc.insecure_channel(pg_target) as channel:
        stub = registry_pb2_grpc.ModelRegistryStub(channel)
        too_long = _path_of(1024)
        with pytest.raises(grpc.RpcError) as info:
            _upload(stub, model_name, version, too_long, b"data")
        assert _code(info) == grpc.StatusCode.INVALID_ARGUMENT
        details = info.value.details()
        assert details.startswith("path is 1024 bytes of UTF-8"), details
        room = int(re.search(r"at most (\d+) bytes", details).group(1))  # type: ignore[union-attr]
        listed = stub.ListArtifacts(pb.ListArtifactsRequest(name=model_name, version=version))
        assert list(listed.files) == []

        longest = _path_of(room)
        with pytest.raises(grpc.RpcError) as info:
            _upload(stub, model_name, version, longest + "x", b"data")
        assert _code(info) == grpc.StatusCode.INVALID_ARGUMENT
        assert _upload(stub, model_name, version, longest, b"data").size == 4

    # Stored under a key of exactly S3's limit, prefix included.
    bucket = urlsplit(pg_artifact_store).netloc
    keys = [
        o.object_name
        for o in s3.client().list_objects(bucket, prefix=f"{store.prefix}/", recursive=True)
        if o.object_name.endswith(longest)
    ]
    assert [len(k.encode()) for k in keys] == [1024]
    pg_client.finalize_model_version(
        model_name, version, [ArtifactFile(longest, 4, hashlib.sha256(b"data").hexdigest())]
    )
    pg_client.download_artifacts(f"models:/{model_name}/{version}", tmp_path)
    assert (tmp_path / longest).read_bytes() == b"data"


def test_the_local_store_admits_only_keys_whose_paths_it_can_open(tmp_path: Path) -> None:
    # The folder store's paths are its root, then the key; Linux refuses paths
    # over 4,095 bytes. With a deep root the room left for keys shrinks, and
    # the longest key admitted must still be writable, including the
    # temporary file put_stream writes beside it first.
    root = tmp_path
    while len(os.fsencode(root)) < 3500:
        root /= "r" * 200
    store = LocalArtifactStore(root)
    assert 0 < store.max_key_bytes < 4095 - 3500
    key = _path_of(store.max_key_bytes - 2) + "/f"  # a one-letter name: the longest temp path
    assert len(key.encode()) == store.max_key_bytes
    assert store.put_stream(key, [b"data"]).size == 4
    assert b"".join(store.open_stream(key)) == b"data"


def test_an_s3_prefix_leaving_too_little_of_the_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match=r"prefix 'p+'\.\.\. is too long: it would leave 423 "):
        artifact_factory.from_url("s3://bucket/" + "p" * 600 + "?endpoint=127.0.0.1:9")
    assert artifact_factory.from_url("s3://bucket/p?endpoint=127.0.0.1:9").max_key_bytes == 1022
