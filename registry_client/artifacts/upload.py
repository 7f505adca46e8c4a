"""Uploads: one file per client-streamed UploadArtifact, and whole folders
as a new version (create pending, upload in parallel, finalize)."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, BinaryIO

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_client._errors import (
    AlreadyExists,
    ChecksumMismatch,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    RegistryError,
    Unavailable,
)
from registry_client.artifacts._parallel import (
    CHUNK_SIZE,
    CancelScope,
    Progress,
    ProgressCallback,
    run_parallel,
)
from registry_client.artifacts.manifest import file_digest, local_files
from registry_client.types import ArtifactFile, Lineage, ModelVersion

if TYPE_CHECKING:
    from registry_client._artifacts import ArtifactsMixin

_MAX_ABORT_REASON = 1000


class _UploadStream:
    """The request stream of one UploadArtifact attempt: header, then chunks.

    gRPC reads it from its own thread, so reads and ``close`` take a lock:
    closing after the call ended cannot race a read in flight.
    """

    def __init__(
        self, header: pb.UploadArtifactRequest.Header, local_path: str, progress: Progress
    ) -> None:
        self._file: BinaryIO = open(local_path, "rb")  # noqa: SIM115 (closed by close())
        self._header: pb.UploadArtifactRequest.Header | None = header
        self._progress = progress
        self._lock = threading.Lock()
        self._closed = False
        self.hash = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> _UploadStream:
        return self

    def __next__(self) -> pb.UploadArtifactRequest:
        with self._lock:
            if self._header is not None:
                header, self._header = self._header, None
                return pb.UploadArtifactRequest(header=header)
            if self._closed:
                raise StopIteration
            data = self._file.read(CHUNK_SIZE)
            if not data:
                self._close()
                raise StopIteration
            self.hash.update(data)
            self.size += len(data)
        self._progress.add(len(data))
        return pb.UploadArtifactRequest(chunk=data)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._file.close()

    def close(self) -> None:
        with self._lock:
            self._close()


def upload_file(
    client: ArtifactsMixin,
    name: str,
    version: int,
    local_path: str | os.PathLike[str],
    path: str,
    *,
    progress: Progress | None = None,
    scope: CancelScope | None = None,
) -> ArtifactFile:
    """Upload one file; on UNAVAILABLE the whole file is sent again.

    A failed upload records nothing on the server, so resending is safe. If
    the failure was only the response getting lost, the resend is refused
    (the path is taken: ALREADY_EXISTS, or INVALID_ARGUMENT from servers
    before that code was used for it); the file is then looked up and
    accepted if the server holds exactly our bytes.
    """
    header = pb.UploadArtifactRequest.Header(name=name, version=version, path=path)
    tracker = progress or Progress(0, None)
    attempts: list[_UploadStream] = []

    def requests() -> _UploadStream:
        if attempts:
            tracker.add(-attempts[-1].size)  # this attempt starts from zero again
        attempts.append(_UploadStream(header, os.fspath(local_path), tracker))
        return attempts[-1]

    try:
        response = client._call(
            "UploadArtifact",
            requests,
            retry_safe=True,
            transfer=True,
            on_call=scope.register if scope is not None else None,
        )
    except (AlreadyExists, InvalidArgument):
        if len(attempts) > 1:
            stored = _find_uploaded(client, name, version, path, local_path)
            if stored is not None:
                return stored
        raise
    finally:
        for stream in attempts:
            stream.close()
    stored = ArtifactFile._from_proto(response.file)
    sent = attempts[-1]
    if (stored.size, stored.sha256) != (sent.size, sent.hash.hexdigest()):
        raise ChecksumMismatch(
            f"the server stored {path!r} with {stored.size} bytes and sha256 "
            f"{stored.sha256}, but {sent.size} bytes with sha256 {sent.hash.hexdigest()} "
            "were sent",
            path=path,
            expected=(sent.size, sent.hash.hexdigest()),
            actual=(stored.size, stored.sha256),
        )
    return stored


def _find_uploaded(
    client: ArtifactsMixin, name: str, version: int, path: str, local_path: str | os.PathLike[str]
) -> ArtifactFile | None:
    with suppress(RegistryError):
        for stored in client.list_artifacts(name, version):
            if stored.path == path:
                return stored if (stored.size, stored.sha256) == file_digest(local_path) else None
    return None


def _readable_file(local_path: str) -> os.stat_result:
    """What stat says of a file that this process can open for reading."""
    with open(local_path, "rb") as f:
        return os.fstat(f.fileno())


def _require_unchanged(
    local_path: str, path: str, before: os.stat_result, stored: ArtifactFile
) -> None:
    """Refuse an upload whose file changed while it was read: the bytes sent
    (and stored) may then mix old and new content."""
    after = os.stat(local_path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise ChecksumMismatch(
            f"{local_path!r} changed while it was uploading ({before.st_size} bytes before, "
            f"{after.st_size} after, {stored.size} sent); upload it again once it is complete",
            path=path,
            expected=(stored.size, stored.sha256),
            actual=(after.st_size, ""),
        )


def log_model_version(
    client: ArtifactsMixin,
    name: str,
    local_dir: str | os.PathLike[str],
    *,
    run_id: str | None,
    run_link: str | None,
    description: str | None,
    tags: Mapping[str, str] | None,
    lineage: Lineage | None,
    idempotency_key: str | None,
    max_workers: int,
    progress: ProgressCallback | None,
) -> ModelVersion:
    """See ``RegistryClient.log_model_version``.

    Each file is read once: the upload hashes what it sends, the server
    answers with the size and sha256 it stored, and the two must agree
    (``upload_file``). Those answers make the manifest. Hashing the folder
    first, as this did before, read every file twice; for a model of several
    GB on a disk that is not cached, that was a second full read before the
    first byte went out. A file that changes while it is read is caught by
    its size and modification time, before and after.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
    # Everything local first: a missing folder, a path the registry would
    # refuse or a file this process cannot open creates nothing.
    files = [(path, src, _readable_file(src)) for path, src in local_files(local_dir)]
    replayable = idempotency_key is not None
    mv = client.create_model_version(
        name,
        run_id=run_id,
        tags=tags,
        run_link=run_link,
        description=description,
        lineage=lineage,
        idempotency_key=idempotency_key or uuid.uuid4().hex,
        registry_held_artifacts=True,
    )
    if not mv.registry_held_artifacts:
        raise FailedPrecondition(
            f"idempotency key {idempotency_key!r} already created {mv.uri}, which does not "
            "hold its files in the registry"
        )
    if mv.status == "READY":  # a replay of a run that already finished
        return mv
    if mv.status != "PENDING_REGISTRATION":
        raise FailedPrecondition(
            f"idempotency key {idempotency_key!r} already created {mv.uri}, which is "
            f"{mv.status} ({mv.status_message or 'no reason given'}); use a new key"
        )
    try:
        tracker = Progress(sum(stat.st_size for _, _, stat in files), progress)
        manifest: dict[str, ArtifactFile] = {}
        todo = []
        # A replay may find files of an interrupted run: those the server
        # holds with our bytes are kept (hashing only these).
        present: dict[str, ArtifactFile] = {}
        if replayable:
            present = {f.path: f for f in client.list_artifacts(mv.name, mv.version)}
        for path, src, stat in files:
            held = present.get(path)
            if held is not None and (held.size, held.sha256) == file_digest(src):
                manifest[path] = held
                tracker.add(held.size)
            else:
                todo.append((path, src, stat))
        scope = CancelScope()

        def upload(item: tuple[str, str, os.stat_result]) -> ArtifactFile:
            path, src, before = item
            stored = upload_file(
                client, mv.name, mv.version, src, path, progress=tracker, scope=scope
            )
            _require_unchanged(src, path, before, stored)
            return stored

        uploaded = run_parallel(upload, todo, max_workers, scope)
        for (path, _, _), stored in zip(todo, uploaded, strict=True):
            manifest[path] = stored
        return _finalize(client, mv, [manifest[path] for path, _, _ in files])
    except BaseException as exc:
        reason = f"log_model_version failed: {type(exc).__name__}: {exc}"[:_MAX_ABORT_REASON]
        with suppress(Exception):
            client.abort_model_version(mv.name, mv.version, reason=reason)
        raise


def _finalize(
    client: ArtifactsMixin, mv: ModelVersion, manifest: list[ArtifactFile]
) -> ModelVersion:
    """Finalize, surviving a lost response or a short outage.

    FinalizeModelVersion is not resent blindly (a replay after success fails,
    the version being READY); the version is read back instead: READY means
    done, still pending means finalizing again is safe.
    """
    for attempt in range(1, client.max_attempts + 1):
        try:
            return client.finalize_model_version(mv.name, mv.version, manifest)
        except (Unavailable, DeadlineExceeded):
            current = None
            with suppress(RegistryError):
                current = client.get_model_version(mv.name, mv.version)
            if current is not None and current.status == "READY":
                return current
            if (
                current is None
                or current.status != "PENDING_REGISTRATION"
                or attempt == client.max_attempts
            ):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
