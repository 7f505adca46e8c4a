"""Files of registry-held versions: manifest entries, listings, presigned
URLs and what a download put on disk."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client.types.versions import ModelVersion

__all__ = [
    "ArtifactDownloadUrls",
    "ArtifactFile",
    "ArtifactListing",
    "ArtifactUrl",
    "DownloadedModel",
]


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One file of a version held by the registry: a manifest entry.

    ``path`` is relative POSIX (``"weights/model.bin"``), ``sha256`` lowercase
    hex. Build these yourself for ``finalize_model_version``, or let
    ``log_model_version`` compute them.
    """

    path: str
    size: int
    sha256: str
    raw: pb.ArtifactFile | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ArtifactFile) -> ArtifactFile:
        return cls(path=msg.path, size=msg.size, sha256=msg.sha256, raw=msg)

    def _to_proto(self) -> pb.ArtifactFile:
        return pb.ArtifactFile(path=self.path, size=self.size, sha256=self.sha256)


@dataclass(frozen=True, slots=True)
class ArtifactListing:
    """The files of one version, with the exact version they belong to.

    When listed by URI, ``model_version`` is what the URI resolved to, and a
    path in the URI limits ``files`` to that file or folder. ``files`` is
    sorted by path.
    """

    model_version: ModelVersion
    files: tuple[ArtifactFile, ...]
    raw: pb.ListArtifactsResponse | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_proto(cls, msg: pb.ListArtifactsResponse) -> ArtifactListing:
        return cls(
            model_version=ModelVersion._from_proto(msg.model_version),
            files=tuple(ArtifactFile._from_proto(f) for f in msg.files),
            raw=msg,
        )


@dataclass(frozen=True, slots=True)
class ArtifactUrl:
    """A presigned HTTP GET URL for one file."""

    file: ArtifactFile
    url: str = field(repr=False)  # carries a credential; keep it out of logs


@dataclass(frozen=True, slots=True)
class ArtifactDownloadUrls:
    """Presigned URLs for files of a READY version.

    ``supported`` is False (and ``urls`` empty) when neither the server's
    artifact store nor its HTTP side port can give URLs; stream the files
    with ``download_artifact`` then. ``from_registry`` is True when the URLs
    are the registry's own (signed URLs on its side port, which stream the
    file from the store) rather than the store's.
    """

    supported: bool
    urls: tuple[ArtifactUrl, ...]
    raw: pb.GetArtifactDownloadUrlsResponse | None = field(default=None, repr=False, compare=False)
    from_registry: bool = False

    @classmethod
    def _from_proto(cls, msg: pb.GetArtifactDownloadUrlsResponse) -> ArtifactDownloadUrls:
        return cls(
            supported=msg.supported,
            urls=tuple(ArtifactUrl(ArtifactFile._from_proto(u.file), u.url) for u in msg.urls),
            raw=msg,
            from_registry=msg.from_registry,
        )


@dataclass(frozen=True, slots=True)
class DownloadedModel:
    """What ``download_artifacts`` put on disk.

    ``model_version`` is the exact version the URI resolved to; ``files`` its
    manifest entries that were requested (all of them, or those under the
    URI's path), each now at ``local_dir/<path>``. ``downloaded`` and
    ``skipped`` split their paths into fetched now and already present with
    the right content.
    """

    model_version: ModelVersion
    local_dir: str
    files: tuple[ArtifactFile, ...]
    downloaded: tuple[str, ...]
    skipped: tuple[str, ...]
