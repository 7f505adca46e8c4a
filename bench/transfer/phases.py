"""The phases: the file moved directly with minio (the baselines) and through the registry,
every phase `--rounds` times, alternating, each download checked against the source's
sha256 outside the timed section.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from unittest import mock

from minio import Minio

from registry_api import wire
from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client import ArtifactDownloadUrls, RegistryClient

from .measure import RssSampler, run_phase
from .stats import MiB, Phase, median_phase

PART_SIZE = 16 * MiB  # the server's part size (registry_server.artifacts.s3.PART_SIZE)

log = logging.getLogger("bench")


def write_random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes in 4 MiB blocks; return their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class FallbackDetector(logging.Handler):
    """Notices the client's "presigned download ... failed; streaming" warning."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.fell_back = False

    def emit(self, record: logging.LogRecord) -> None:
        if "streaming" in record.getMessage():
            self.fell_back = True


@dataclass
class Transfer:
    """What the phases work on; each phase's action returns its row's note."""

    work: Path
    src: Path  # the file, alone in its folder (the folder is what log_model_version sends)
    size: int
    expected: str  # its sha256
    minio: Minio
    bucket: str
    direct_key: str
    client: RegistryClient
    model: str
    detector: FallbackDetector
    version: list[int] = field(default_factory=list)
    stream_call: Callable[..., Iterable[wire.DownloadPiece]] = field(init=False)

    def __post_init__(self) -> None:
        # The generated stub on the client's channel, with the client's
        # chunk decoder: the transport and nothing else.
        self.stream_call = self.client.channel.unary_stream(
            f"/{pb.DESCRIPTOR.services_by_name['ModelRegistry'].full_name}/DownloadArtifact",
            request_serializer=pb.DownloadArtifactRequest.SerializeToString,
            response_deserializer=wire.decode_download,
        )

    # Direct to S3: the baselines.
    def direct_upload(self) -> str:
        self.minio.fput_object(self.bucket, self.direct_key, str(self.src), part_size=PART_SIZE)
        return "minio fput_object, 16 MiB parts"

    def direct_download(self) -> str:
        self.minio.fget_object(self.bucket, self.direct_key, str(self.work / "direct.bin"))
        return "minio fget_object"

    # Through the registry.
    def registry_upload(self) -> str:
        self.version.append(self.client.log_model_version(self.model, self.src.parent).version)
        return "log_model_version (hashes as it sends)"

    def registry_download(self, how: str) -> str:
        """download_artifacts: `presigned` (the store's URLs), `http` (the
        registry side port's URLs: prefer_presigned=False with a side port)
        or `grpc` (DownloadArtifact, as when the server has no side port)."""
        self.detector.fell_back = False
        dst = self.work / how
        uri = f"models:/{self.model}/{self.version[0]}"
        if how == "grpc":
            with mock.patch.object(
                self.client,
                "get_artifact_download_urls",
                return_value=ArtifactDownloadUrls(supported=False, urls=()),
            ):
                self.client.download_artifacts(uri, dst, prefer_presigned=False)
            return "DownloadArtifact through the server (no side port)"
        self.client.download_artifacts(uri, dst, prefer_presigned=how == "presigned")
        if self.detector.fell_back:
            return f"{how} URL FAILED, fell back to streaming"
        if how == "http":
            return "the server's HTTP side port (signed URL)"
        return "presigned URL from S3"

    def stream_only(self) -> str:
        request = pb.DownloadArtifactRequest(
            name=self.model, version=self.version[0], path="model.bin"
        )
        received = sum(
            len(piece.chunk) for piece in self.stream_call(request, metadata=self.client.metadata)
        )
        if received != self.size:
            raise RuntimeError(f"stream only: {received} bytes, expected {self.size}")
        return "DownloadArtifact, chunks discarded"

    def check_download(self, path: Path) -> None:
        got = sha256_of(path)
        if got != self.expected:
            raise RuntimeError(f"{path}: sha256 {got}, expected {self.expected}")
        path.unlink()


def run_rounds(
    t: Transfer, sampler: RssSampler, rounds: int, cleanups: list[Callable[[], None]]
) -> list[Phase]:
    """Every phase `rounds` times, alternating; one row (the median) per phase."""
    t.client.create_registered_model(t.model)
    cleanups.append(lambda: t.client.delete_registered_model(t.model))  # deletes its files

    # Uploads alternate too. Every registry upload makes a version; the
    # first is the one downloaded below, the others are deleted after
    # their measurement (moto keeps every object in memory).
    uploads: dict[str, list[Phase]] = {}
    for _ in range(rounds):
        for name, action in (
            ("direct upload", t.direct_upload),
            ("registry upload", t.registry_upload),
        ):
            uploads.setdefault(name, []).append(run_phase(sampler, name, "upload", t.size, action))
        if len(t.version) > 1:
            t.client.delete_model_version(t.model, t.version.pop())
    phases = [median_phase(runs) for runs in uploads.values()]
    presigns = t.client.get_artifact_download_urls(t.model, t.version[0]).supported
    if not presigns:
        log.info("the store does not presign: no presigned phase")

    downloads: dict[str, list[Phase]] = {}

    def measure(name: str, action: Callable[[], str], output: Path | None) -> None:
        downloads.setdefault(name, []).append(run_phase(sampler, name, "download", t.size, action))
        if output is not None:
            t.check_download(output)

    for _ in range(rounds):
        measure("direct download", t.direct_download, t.work / "direct.bin")
        measure(
            "registry download",
            partial(t.registry_download, "grpc"),
            t.work / "grpc" / "model.bin",
        )
        measure(
            "side-port download",
            partial(t.registry_download, "http"),
            t.work / "http" / "model.bin",
        )
        measure("stream only", t.stream_only, None)
        if presigns:
            measure(
                "presigned download",
                partial(t.registry_download, "presigned"),
                t.work / "presigned" / "model.bin",
            )
    return phases + [median_phase(runs) for runs in downloads.values()]
