"""A version aborted or deleted while one of its files is uploading.

Aborting or deleting removes the version's folder in the artifact store,
and with it the local store's temporary file: the upload's final rename
failed with FileNotFoundError and the caller got INTERNAL. It must get
FAILED_PRECONDITION, and nothing of the file may stay behind. Run on SQLite
with the local folder store and on PostgreSQL with S3.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient

TIMEOUT = 30


def _temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".upload-*") if p.is_file()]


@pytest.mark.parametrize("ending", ["abort", "delete"])
def test_upload_into_a_version_aborted_or_deleted_meanwhile_fails_precondition(
    client: RegistryClient,
    stub: registry_pb2_grpc.ModelRegistryStub,
    backend: str,
    model_name: str,
    request: pytest.FixtureRequest,
    ending: str,
) -> None:
    client.create_registered_model(model_name)
    version = client.create_model_version(model_name, registry_held_artifacts=True).version
    root: Path | None = (
        request.getfixturevalue("sqlite_artifact_dir") if backend == "sqlite" else None
    )
    go_on = threading.Event()

    def messages() -> Iterator[pb.UploadArtifactRequest]:
        header = pb.UploadArtifactRequest.Header(
            name=model_name, version=version, path=f"m/{model_name}.bin"
        )
        yield pb.UploadArtifactRequest(header=header)
        yield pb.UploadArtifactRequest(chunk=b"first part")
        go_on.wait(TIMEOUT)
        yield pb.UploadArtifactRequest(chunk=b"second part")

    answer: list[grpc.RpcError | pb.UploadArtifactResponse] = []

    def upload() -> None:
        try:
            answer.append(stub.UploadArtifact(messages(), timeout=TIMEOUT))
        except grpc.RpcError as exc:
            answer.append(exc)

    uploading = threading.Thread(target=upload)
    uploading.start()
    try:
        # Wait until the server writes the file (the local store: its
        # temporary file exists), then take the version away.
        deadline = time.monotonic() + TIMEOUT
        while root is not None and not _temporary_files(root):
            assert time.monotonic() < deadline, "the upload never started writing"
            time.sleep(0.01)
        if root is None:
            time.sleep(0.5)
        if ending == "abort":
            client.abort_model_version(model_name, version)
        else:
            client.delete_model_version(model_name, version)
    finally:
        go_on.set()
        uploading.join(TIMEOUT)
    (outcome,) = answer
    assert isinstance(outcome, grpc.RpcError), outcome
    assert outcome.code() is grpc.StatusCode.FAILED_PRECONDITION, outcome.details()
    assert "the file was discarded" in (outcome.details() or "")
    if root is not None:
        assert _temporary_files(root) == []
        assert not list(root.rglob(f"{model_name}.bin"))
