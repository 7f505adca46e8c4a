"""The S3 endpoint going down in the middle of registering a version."""

from __future__ import annotations

import hashlib
import os
from contextlib import ExitStack

import grpc
import pytest
from conftest import s3_store_url
from support.s3 import moto_s3_server

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import RegistryClient
from registry_server.config import ServerConfig
from registry_server.server import start

PENDING = pb.MODEL_VERSION_STATUS_PENDING_REGISTRATION

pytestmark = pytest.mark.slow


def _upload(stub, name: str, version: int, path: str, data: bytes):
    def messages():
        yield pb.UploadArtifactRequest(
            header=pb.UploadArtifactRequest.Header(name=name, version=version, path=path)
        )
        for i in range(0, len(data), 256 * 1024):
            yield pb.UploadArtifactRequest(chunk=data[i : i + 256 * 1024])

    return stub.UploadArtifact(messages(), timeout=30)


def _entry(path: str, data: bytes) -> pb.ArtifactFile:
    return pb.ArtifactFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_s3_down_during_upload_then_back(pg_database_url: str, s3, model_name: str) -> None:
    """`s3` (the session endpoint) is only asked for so the AWS_* credentials are set."""
    a, b = os.urandom(300_000), os.urandom(200_000)
    manifest = [_entry("a.bin", a), _entry("b.bin", b)]
    with ExitStack() as first_life:
        moto_life = ExitStack()
        first = moto_life.enter_context(moto_s3_server())
        first_life.callback(moto_life.close)
        port = int(first.endpoint.rsplit(":", 1)[1])
        running = start(
            ServerConfig(
                database_url=pg_database_url,
                artifact_store=s3_store_url(first, "flaky"),
                listen="127.0.0.1:0",
            )
        )
        first_life.callback(running.stop, 1)
        target = f"127.0.0.1:{running.port}"
        with RegistryClient(target) as client, grpc.insecure_channel(target) as channel:
            stub = registry_pb2_grpc.ModelRegistryStub(channel)
            client.create_registered_model(model_name)
            version = client.create_model_version(model_name, registry_held_artifacts=True).version
            _upload(stub, model_name, version, "a.bin", a)

            # Stop the S3 endpoint: uploads fail with UNAVAILABLE, record nothing.
            moto_life.close()
            with pytest.raises(grpc.RpcError) as info:
                _upload(stub, model_name, version, "b.bin", b)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            listed = stub.ListArtifacts(pb.ListArtifactsRequest(name=model_name, version=version))
            assert [f.path for f in listed.files] == ["a.bin"]
            with pytest.raises(grpc.RpcError) as info:
                stub.FinalizeModelVersion(
                    pb.FinalizeModelVersionRequest(
                        name=model_name, version=version, expected_manifest=manifest
                    )
                )
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert _status(stub, model_name, version) == PENDING

            # Back on the same port. moto keeps objects in memory, so a.bin is
            # gone: finalize notices instead of marking the version READY.
            with moto_s3_server(port=port):
                _upload(stub, model_name, version, "b.bin", b)
                with pytest.raises(grpc.RpcError) as info:
                    stub.FinalizeModelVersion(
                        pb.FinalizeModelVersionRequest(
                            name=model_name, version=version, expected_manifest=manifest
                        )
                    )
                assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert "'a.bin' is missing from the artifact store" in info.value.details()
                assert _status(stub, model_name, version) == PENDING
                _upload(stub, model_name, version, "a.bin", a)
                ready = stub.FinalizeModelVersion(
                    pb.FinalizeModelVersionRequest(
                        name=model_name, version=version, expected_manifest=manifest
                    )
                ).model_version
                assert ready.status == pb.MODEL_VERSION_STATUS_READY
                for path, data in (("a.bin", a), ("b.bin", b)):
                    body = b"".join(
                        r.chunk
                        for r in stub.DownloadArtifact(
                            pb.DownloadArtifactRequest(name=model_name, version=version, path=path)
                        )
                    )
                    assert body == data


def _status(stub, name: str, version: int) -> int:
    return stub.GetModelVersion(
        pb.GetModelVersionRequest(name=name, version=version)
    ).model_version.status
