"""Registry-held artifacts: upload, finalize, abort, list, download, gc.

Bytes never pass through a database transaction. An upload first reserves its
path (a row in state 'uploading', which also stops a concurrent upload of the
same path), streams the bytes to the store with no lock held, then records
size and sha256 after checking the version is still pending. A version turns
READY only in FinalizeModelVersion, after every declared file was checked
against the database and the store. Objects are deleted after the commit
that disowns them; if that fails they are orphans for `registry-server gc`.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from registry_server import metrics
from registry_server.artifacts.base import ArtifactStore, object_key
from registry_server.domain import uri as uris
from registry_server.domain import validation
from registry_server.domain._change import version_label
from registry_server.domain.access import Caller, Role
from registry_server.domain.entities import ArtifactFile, ModelVersion, VersionStatus
from registry_server.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
)
from registry_server.domain.events import EventKind
from registry_server.domain.registry import Registry
from registry_server.domain.resolve import resolve_in
from registry_server.domain.versions import version_in
from registry_server.store import files, models, versions
from registry_server.store.database import Database

log = logging.getLogger(__name__)

# An 'uploading' reservation older than this is taken to be from a crashed
# server and may be taken over by a new upload of the same path.
STALE_UPLOAD_MS = 15 * 60 * 1000
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def _still_pending(
    conn: Connection, model_id: int, version: int, version_id: int, path: str
) -> bool:
    """Whether an upload's version is still pending and its file reserved."""
    located = versions.locate(conn, model_id, version)
    return (
        located is not None
        and located.id == version_id
        and files.get(conn, version_id, path) is not None
        and located.status == VersionStatus.PENDING_REGISTRATION.value
    )


def _discarded(name: str, version: int, path: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"{version_label(name, version)} was finalized, aborted or deleted "
        f"while {path!r} was uploading; the file was discarded"
    )


@dataclass(frozen=True, slots=True)
class Download:
    file: ArtifactFile
    chunks: Iterator[bytes]


class RegistryUrls(Protocol):
    """Signed URLs on the server's HTTP side port (registry_server/http/files.py)."""

    def url(
        self, name: str, version: int, path: str, caller: Caller, expires_seconds: int
    ) -> str | None:
        """A URL for one file, or None when the side port cannot be named."""
        ...


@dataclass(frozen=True, slots=True)
class DownloadUrls:
    """GetArtifactDownloadUrls' answer: `supported` False (no `urls`) when
    neither the store nor the side port can give one; `from_registry` when
    they are the side port's."""

    supported: bool
    urls: list[tuple[ArtifactFile, str]]
    from_registry: bool = False


class ArtifactService:
    def __init__(
        self,
        db: Database,
        store: ArtifactStore,
        registry: Registry,
        registry_urls: RegistryUrls | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.registry = registry
        #: Set by server.py when the side port serves files (--http-listen).
        self.registry_urls = registry_urls

    # ------------------------------------------------------------------ upload

    def upload(
        self, name: str, version: int, path: str, chunks: Iterable[bytes], caller: Caller
    ) -> ArtifactFile:
        validation.model_name(name)
        validation.version_number(version)
        validation.artifact_path(path)
        uploading = (Role.WRITER, "uploading a file")
        with self.registry.changes.version(name, version, caller, uploading) as change:
            conn, now, row = change.conn, change.now, change.locked
            self._require_pending_held(name, version, row)
            self._require_key_fits(change.model_id, name, version, path)
            existing = files.get(conn, row.id, path)
            if existing is None:
                self._refuse_clash(conn, row.id, name, version, path)
                files.reserve(conn, row.id, path, now)
            elif (
                existing.state == files.UPLOADING and now - existing.started_time > STALE_UPLOAD_MS
            ):
                files.restart(conn, row.id, path, now)
            else:
                state = "being uploaded" if existing.state == files.UPLOADING else "uploaded"
                raise AlreadyExists(
                    f"path {path!r} is already {state} for {version_label(name, version)}"
                )
            model_id, version_id = change.model_id, row.id
        key = object_key(model_id, version, path)
        try:
            stored = self.store.put_stream(key, metrics.counted_upload(chunks))
        except BaseException as exc:
            # Aborting or deleting the version meanwhile removes its folder,
            # the upload's temporary file with it (the local store's rename
            # then fails with FileNotFoundError): the caller's answer is that
            # the version went away, not an internal error.
            gone = isinstance(exc, OSError) and not self._still_pending(
                model_id, version, version_id, path
            )
            self._undo_reservation(version_id, path, key)
            if gone:
                raise _discarded(name, version, path) from None
            raise
        with self.db.write() as conn:
            if not _still_pending(conn, model_id, version, version_id, path):
                self._delete_quietly(key)
                raise _discarded(name, version, path)
            files.complete(conn, version_id, path, stored.size, stored.sha256)
        return ArtifactFile(path=path, size=stored.size, sha256=stored.sha256)

    def _still_pending(self, model_id: int, version: int, version_id: int, path: str) -> bool:
        with self.db.read() as conn:
            return _still_pending(conn, model_id, version, version_id, path)

    def _require_key_fits(self, model_id: int, name: str, version: int, path: str) -> None:
        """A path the store's backend cannot take as a key (S3: 1,024 bytes
        with the store's prefix and the model and version folders) is the
        caller's input, refused before anything is written."""
        key_bytes = len(object_key(model_id, version, path).encode("utf-8"))
        if key_bytes <= self.store.max_key_bytes:
            return
        room = self.store.max_key_bytes - len(object_key(model_id, version, "").encode("utf-8"))
        raise InvalidArgument(
            f"path is {len(path.encode('utf-8'))} bytes of UTF-8; the artifact store holds "
            f"paths of at most {room} bytes for {version_label(name, version)}"
        )

    @staticmethod
    def _refuse_clash(
        conn: Connection, version_id: int, name: str, version: int, path: str
    ) -> None:
        """A name is a file or a folder, not both: the local store cannot hold
        "a" beside "a/b" (nor can MinIO), and neither could a client's disk."""
        clash = files.clashing_path(conn, version_id, path)
        if clash is not None:
            raise InvalidArgument(
                f"path {path!r} clashes with {clash!r} of {version_label(name, version)}: "
                "a name cannot be both a file and a folder"
            )

    def _undo_reservation(self, version_id: int, path: str, key: str) -> None:
        try:
            with self.db.write() as conn:
                files.release(conn, version_id, path)
        except Exception:  # the original error matters more; gc cleans up
            log.warning("could not release upload reservation for %s", key, exc_info=True)
        self._delete_quietly(key)

    def _delete_quietly(self, key: str) -> None:
        try:
            self.store.delete_key(key)
        except Exception:
            log.warning("could not delete %s; `registry-server gc` will", key, exc_info=True)

    @staticmethod
    def _require_pending_held(name: str, version: int, row: versions.VersionRow) -> None:
        if not row.artifacts_held:
            raise InvalidArgument(
                f"{version_label(name, version)} does not hold its artifacts in the registry "
                "(create it with registry_held_artifacts)"
            )
        status = row.status
        if status != VersionStatus.PENDING_REGISTRATION.value:
            raise FailedPrecondition(
                f"{version_label(name, version)} is {status}; files can only be added while "
                "it is PENDING_REGISTRATION"
            )

    # ---------------------------------------------------------------- finalize

    def finalize(
        self, name: str, version: int, expected: Sequence[ArtifactFile], caller: Caller
    ) -> ModelVersion:
        validation.model_name(name)
        validation.version_number(version)
        declared = self._check_manifest(expected)
        finalizing = (Role.WRITER, "finalizing a version")
        # First check the store (network calls, no lock held)...
        with self.db.read() as conn:
            model_id = models.require(conn, name).id
            self.registry.access.require(conn, caller, model_id, name, *finalizing)
            located = versions.locate(conn, model_id, version)
            if located is None:
                raise NotFound(f"{version_label(name, version)} not found")
            recorded = {r.path for r in files.rows(conn, located.id) if r.state == files.STORED}
        for item in declared.values():
            if item.path not in recorded:
                continue  # reported by the comparison below
            stored_size = self.store.size(object_key(model_id, version, item.path))
            if stored_size is None:
                self._forget_lost_file(model_id, version, item.path)
                raise FailedPrecondition(
                    f"expected_manifest: file {item.path!r} is missing from the artifact store; "
                    "upload it again, the version stays pending"
                )
            if stored_size != item.size:
                raise FailedPrecondition(
                    f"expected_manifest: file {item.path!r} has {stored_size} bytes in the "
                    f"artifact store, expected {item.size}; the version stays pending"
                )
        # ...then decide under the model lock.
        with self.registry.changes.version(name, version, caller, finalizing) as change:
            conn, row = change.conn, change.locked
            self._require_pending_held(name, version, row)
            uploaded = {r.path: r for r in files.rows(conn, row.id)}
            self._compare(declared, uploaded)
            versions.set_status(conn, row.id, VersionStatus.READY, "", change.now)
            change.record(
                EventKind.VERSION_STATUS_CHANGED,
                version=version,
                before={"status": VersionStatus.PENDING_REGISTRATION.value},
                after={
                    "status": VersionStatus.READY.value,
                    "files": len(declared),
                    "bytes": sum(f.size for f in declared.values()),
                },
            )
            ready = versions.get_by_id(conn, row.id)
            assert ready is not None
            return ready

    def _forget_lost_file(self, model_id: int, version: int, path: str) -> None:
        """A recorded file whose object vanished (e.g. the store lost data) is
        un-recorded, so the client can upload it again."""
        with self.db.write() as conn:
            row = versions.locate(conn, model_id, version)
            if row is not None and row.status == VersionStatus.PENDING_REGISTRATION.value:
                existing = files.get(conn, row.id, path)
                if existing is not None and existing.state == files.STORED:
                    files.release(conn, row.id, path)

    @staticmethod
    def _check_manifest(expected: Sequence[ArtifactFile]) -> dict[str, ArtifactFile]:
        declared: dict[str, ArtifactFile] = {}
        for i, item in enumerate(expected):
            field = f"expected_manifest[{i}]"
            validation.artifact_path(item.path, f"{field}.path")
            validation.sha256_hex(item.sha256, f"{field}.sha256")
            if item.size < 0:
                raise InvalidArgument(f"{field}.size must not be negative")
            if item.path in declared:
                raise InvalidArgument(f"{field}.path {item.path!r} is listed twice")
            declared[item.path] = item
        return declared

    @staticmethod
    def _compare(declared: dict[str, ArtifactFile], uploaded: dict[str, Any]) -> None:
        for path, item in declared.items():
            row = uploaded.get(path)
            if row is None:
                raise FailedPrecondition(
                    f"expected_manifest: file {path!r} was not uploaded; the version stays pending"
                )
            if row.state != files.STORED:
                raise FailedPrecondition(f"expected_manifest: file {path!r} is still uploading")
            if row.size != item.size:
                raise FailedPrecondition(
                    f"expected_manifest: file {path!r} has {row.size} bytes, "
                    f"expected {item.size}; the version stays pending"
                )
            if row.sha256 != item.sha256:
                raise FailedPrecondition(
                    f"expected_manifest: file {path!r} has sha256 {row.sha256}, "
                    f"expected {item.sha256}; the version stays pending"
                )
        extra = sorted(set(uploaded) - set(declared))
        if extra:
            raise FailedPrecondition(
                f"expected_manifest: file {extra[0]!r} was uploaded but is not declared; "
                "the version stays pending"
            )

    # ------------------------------------------------------------------- abort

    def abort(self, name: str, version: int, reason: str, caller: Caller) -> ModelVersion:
        validation.model_name(name)
        validation.version_number(version)
        validation.short(reason, "reason", validation.MAX_URI)
        aborting = (Role.WRITER, "aborting a version")
        with self.registry.changes.version(name, version, caller, aborting) as change:
            conn, row = change.conn, change.locked
            if row.status == VersionStatus.READY.value:
                raise FailedPrecondition(
                    f"{version_label(name, version)} is READY; delete it instead of aborting"
                )
            if row.status == VersionStatus.PENDING_REGISTRATION.value:
                failed = VersionStatus.FAILED_REGISTRATION
                versions.set_status(conn, row.id, failed, reason or "aborted", change.now)
                files.remove_all(conn, row.id)
                change.record(
                    EventKind.VERSION_STATUS_CHANGED,
                    version=version,
                    before={"status": VersionStatus.PENDING_REGISTRATION.value},
                    after={"status": failed.value, "reason": reason},
                )
            model_id = change.model_id
            aborted = versions.get_by_id(conn, row.id)
            assert aborted is not None
        self.registry.delete_version_objects(model_id, version)
        return aborted

    # -------------------------------------------------------------------- read

    def list(
        self, name: str, version: int, uri: str, caller: Caller
    ) -> tuple[ModelVersion, builtins.list[ArtifactFile]]:
        if bool(uri) == bool(name or version):
            raise InvalidArgument("give either uri, or name and version")
        if not uri:
            # Before any SQL: PostgreSQL refuses a NUL in a bound string outright.
            validation.model_name(name)
            validation.version_number(version)
        path = ""
        with self.db.read() as conn:
            if uri:
                parsed = uris.parse(uri)
                found = resolve_in(conn, parsed, "uri", self.registry.access, caller)
                path = parsed.path
            else:
                found = version_in(conn, name, version, self.registry.access, caller)
            self._require_held(found)
            manifest = files.manifest(conn, versions.id_of(conn, found))
        if path:
            manifest = [f for f in manifest if f.path == path or f.path.startswith(path + "/")]
            if not manifest:
                raise NotFound(
                    f"uri: {version_label(found.name, found.version)} has no file or folder "
                    f"{path!r}"
                )
        return found, manifest

    @staticmethod
    def _require_held(found: ModelVersion) -> None:
        if not found.registry_held:
            raise FailedPrecondition(
                f"{version_label(found.name, found.version)} does not hold its artifacts in the "
                f"registry; its files are at {found.source!r}"
            )

    def _ready_file(
        self, name: str, version: int, path: str, caller: Caller
    ) -> tuple[ModelVersion, ArtifactFile]:
        validation.artifact_path(path)
        with self.db.read() as conn:
            found = version_in(conn, name, version, self.registry.access, caller)
            self._require_held(found)
            if found.status is not VersionStatus.READY:
                raise FailedPrecondition(
                    f"{version_label(name, version)} is {found.status.value}; only READY "
                    "versions can be downloaded"
                )
            row = files.get(conn, versions.id_of(conn, found), path)
        if row is None or row.state != files.STORED:
            raise NotFound(f"path: {version_label(name, version)} has no file {path!r}")
        return found, ArtifactFile(path=row.path, size=int(row.size), sha256=row.sha256)

    def download(self, name: str, version: int, path: str, offset: int, caller: Caller) -> Download:
        validation.model_name(name)
        validation.version_number(version)
        found, item = self._ready_file(name, version, path, caller)
        if offset < 0:
            raise InvalidArgument(f"offset must not be negative, got {offset}")
        if offset > item.size:
            raise OutOfRange(f"offset must be between 0 and {item.size}, got {offset}")
        key = object_key(found.model_id, version, path)
        try:
            chunks = self.store.open_stream(key, offset)
        except KeyError:
            raise NotFound(
                f"path: {path!r} of {version_label(name, version)} is missing from the "
                "artifact store"
            ) from None
        return Download(item, metrics.counted_download(chunks))

    def download_urls(
        self,
        name: str,
        version: int,
        paths: Sequence[str],
        expires_seconds: int,
        caller: Caller,
        from_registry: bool = False,
    ) -> DownloadUrls:
        """URLs for `paths` (every file when empty): presigned by the store,
        else (or when asked `from_registry`) the side port's."""
        validation.model_name(name)
        validation.version_number(version)
        expires = expires_seconds or 3600
        if not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise InvalidArgument(
                f"expires_in_seconds must be between 1 and {MAX_PRESIGN_SECONDS}, got {expires}"
            )
        found, manifest = self.list(name, version, "", caller)
        if found.status is not VersionStatus.READY:
            raise FailedPrecondition(
                f"{version_label(name, version)} is {found.status.value}; only READY versions "
                "can be downloaded"
            )
        by_path = {f.path: f for f in manifest}
        wanted = []
        for i, path in enumerate(paths):
            validation.artifact_path(path, f"paths[{i}]")
            if path not in by_path:
                raise NotFound(f"paths[{i}]: {version_label(name, version)} has no file {path!r}")
            wanted.append(by_path[path])
        files = wanted or manifest
        if not from_registry:
            urls: builtins.list[tuple[ArtifactFile, str]] = []
            for item in files:
                url = self.store.presign_get(
                    object_key(found.model_id, version, item.path), expires
                )
                if url is None:
                    break
                urls.append((item, url))
            else:
                return DownloadUrls(True, urls)
        # The store cannot presign, or the caller asked for the registry's own.
        urls = []
        for item in files:
            own = None
            if self.registry_urls is not None:
                own = self.registry_urls.url(found.name, version, item.path, caller, expires)
            if own is None:
                return DownloadUrls(False, [])
            urls.append((item, own))
        return DownloadUrls(True, urls, from_registry=True)

    # ---------------------------------------------------------------------- gc

    def collect_garbage(self, dry_run: bool = False) -> builtins.list[str]:
        """Delete objects no version owns. The store is listed before the
        database is read, so an upload starting in between is either not
        listed or already owned."""
        listed = list(self.store.list_keys())
        with self.db.read() as conn:
            owned = files.owned_keys(conn)
        orphans = [k for k in listed if k not in owned]
        if not dry_run:
            for key in orphans:
                self.store.delete_key(key)
        return orphans
