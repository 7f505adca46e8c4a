"""Registry-held artifacts: the client methods. They keep to one method per
RPC plus the two conveniences (``log_model_version``, ``download_artifacts``);
the file handling behind them is in ``registry_client.artifacts``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import BinaryIO

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._args import _version_number
from registry_client._errors import FailedPrecondition
from registry_client._versions import VersionsMixin
from registry_client.artifacts import download, upload
from registry_client.artifacts._parallel import ProgressCallback
from registry_client.types import (
    ArtifactDownloadUrls,
    ArtifactFile,
    ArtifactListing,
    DownloadedModel,
    Lineage,
    ModelVersion,
)


class ArtifactsMixin(VersionsMixin):
    """Built on the versions: logging files creates, finalizes or aborts one."""

    def log_model_version(
        self,
        name: str,
        local_dir: str | os.PathLike[str],
        *,
        run_id: str | None = None,
        run_link: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        lineage: Lineage | None = None,
        idempotency_key: str | None = None,
        max_workers: int = 4,
        progress: ProgressCallback | None = None,
    ) -> ModelVersion:
        """Register the files under ``local_dir`` as the next version; return it READY.

        Checks that every file can be read (paths relative to ``local_dir``,
        '/'-separated), creates a pending version, uploads the files on
        ``max_workers`` threads, each read once and hashed as it is sent, and
        finalizes with the sizes and sha256 the server stored, which must
        match what was sent (ChecksumMismatch otherwise, also when a file
        changes while it is read). If anything fails after the version was
        created, it is aborted (FAILED_REGISTRATION, files removed) and the
        error re-raised. With an ``idempotency_key``, a
        re-run resumes a version left pending by a crashed run (files already
        uploaded with the same sha256 are skipped) and returns one that is
        already READY as is. ``progress(done, total)`` reports bytes uploaded.
        """
        return upload.log_model_version(
            self,
            name,
            local_dir,
            run_id=run_id,
            run_link=run_link,
            description=description,
            tags=tags,
            lineage=lineage,
            idempotency_key=idempotency_key,
            max_workers=max_workers,
            progress=progress,
        )

    def download_artifacts(
        self,
        uri: str,
        dst_dir: str | os.PathLike[str],
        *,
        max_workers: int = 4,
        prefer_presigned: bool = True,
        progress: ProgressCallback | None = None,
    ) -> DownloadedModel:
        """Download the files of the version ``uri`` resolves to into ``dst_dir``.

        The URI is resolved once; every file comes from that exact version.
        Files keep their path inside the model: ``models:/m/1/weights`` puts
        the files under ``weights/`` at ``dst_dir/weights/...``. A file
        already there with the right size and sha256 is left alone; others
        are written to a temporary file, checked and renamed into place, so
        a wrong or partial file never sits at the final path
        (``ChecksumMismatch`` if the bytes do not match the manifest). Files
        come from the store's presigned URLs when the server offers them and
        ``prefer_presigned``. Otherwise they come through the registry: over
        plain HTTP from its side port's signed URLs when it serves them,
        else (or if such a URL fails, resuming at the byte it reached)
        streamed with DownloadArtifact.
        """
        return download.download_model(
            self,
            uri,
            dst_dir,
            max_workers=max_workers,
            prefer_presigned=prefer_presigned,
            progress=progress,
        )

    def upload_artifact(
        self,
        name: str,
        version: int | str,
        local_path: str | os.PathLike[str],
        path: str | None = None,
    ) -> ArtifactFile:
        """Upload one file of a pending version, as ``path`` (default: its file name).

        Streams the file; on UNAVAILABLE it is sent again from the start.
        Returns what the server stored (checked against what was sent).
        """
        return upload.upload_file(
            self,
            name,
            _version_number(version),
            local_path,
            os.path.basename(os.fspath(local_path)) if path is None else path,
        )

    def finalize_model_version(
        self, name: str, version: int | str, manifest: Iterable[ArtifactFile]
    ) -> ModelVersion:
        """Make a pending version READY if its files match ``manifest`` exactly.

        Not resent on UNAVAILABLE (a replay after success finds the version
        READY and fails); re-read the version to find out.
        """
        request = pb.FinalizeModelVersionRequest(
            name=name,
            version=_version_number(version),
            expected_manifest=[f._to_proto() for f in manifest],
        )
        response = self._call("FinalizeModelVersion", request)
        return ModelVersion._from_proto(response.model_version)

    def abort_model_version(self, name: str, version: int | str, reason: str = "") -> ModelVersion:
        """Give up on a pending version: FAILED_REGISTRATION, its files removed."""
        request = pb.AbortModelVersionRequest(
            name=name, version=_version_number(version), reason=reason
        )
        # Aborting an aborted version changes nothing, so a replay is safe.
        response = self._call("AbortModelVersion", request)
        return ModelVersion._from_proto(response.model_version)

    def list_artifacts(
        self, name_or_uri: str, version: int | str | None = None
    ) -> list[ArtifactFile]:
        """Files of ``name`` ``version``, or of the version a ``models:/`` URI names.

        Sorted by path. A path in the URI lists only that file or folder.
        """
        return list(self.list_artifacts_with_version(name_or_uri, version).files)

    def list_artifacts_with_version(
        self, name_or_uri: str, version: int | str | None = None
    ) -> ArtifactListing:
        """Like ``list_artifacts``, with the exact version the files belong to.

        The server sends the files in pages (1,000 each); listed by URI, each
        page resolves the URI again. Should an alias or stage move between
        pages, the listing starts over, so that every file belongs to the
        version returned (a download must not mix versions).
        """
        number = None if version is None else _version_number(version)

        def request(token: str) -> pb.ListArtifactsRequest:
            if number is None:
                return pb.ListArtifactsRequest(uri=name_or_uri, page_token=token)
            return pb.ListArtifactsRequest(name=name_or_uri, version=number, page_token=token)

        for _ in range(self.max_attempts):
            pages = self._pages("ListArtifacts", request)
            first = next(pages)
            pinned = (first.model_version.name, first.model_version.version)
            files = [*first.files]
            for page in pages:
                if (page.model_version.name, page.model_version.version) != pinned:
                    break  # moved while listed: start over
                files.extend(page.files)
            else:
                return ArtifactListing(
                    model_version=ModelVersion._from_proto(first.model_version),
                    files=tuple(ArtifactFile._from_proto(f) for f in files),
                    raw=first,
                )
        raise FailedPrecondition(
            f"{name_or_uri!r} kept resolving to other versions while its files were listed"
        )

    def get_artifact_download_urls(
        self,
        name: str,
        version: int | str,
        paths: Sequence[str] = (),
        expires_in_seconds: int = 0,
        *,
        from_registry: bool = False,
    ) -> ArtifactDownloadUrls:
        """Presigned GET URLs for ``paths`` (default: every file) of a READY version.

        The store's presigned URLs when it can presign, else signed URLs on
        the server's HTTP side port (``from_registry`` in the answer);
        ``from_registry=True`` asks for the side port's even when the store
        can presign. ``supported`` is False when there are none; use
        ``download_artifact`` then. ``expires_in_seconds`` 0 means one hour.
        """
        if isinstance(paths, str):
            paths = [paths]
        request = pb.GetArtifactDownloadUrlsRequest(
            name=name,
            version=_version_number(version),
            paths=list(paths),
            expires_in_seconds=expires_in_seconds,
            from_registry=from_registry,
        )
        response = self._call("GetArtifactDownloadUrls", request)
        return ArtifactDownloadUrls._from_proto(response)

    def download_artifact(
        self,
        name: str,
        version: int | str,
        path: str,
        dst_file: BinaryIO,
        *,
        offset: int = 0,
    ) -> ArtifactFile:
        """Stream one file of a READY version into the open binary ``dst_file``.

        Writes the bytes from ``offset`` on at the file's current position; a
        stream broken by UNAVAILABLE resumes where it stopped. Checks the
        size, and the sha256 when starting at 0 (``ChecksumMismatch``).
        Returns the file's manifest entry. ``download_artifacts`` is the
        convenient way to fetch whole versions.
        """
        sink = download._Sink(dst_file, start=offset, path=path)
        entry = download.stream_file(self, name, _version_number(version), path, sink)
        sink.verify(entry)
        return entry
