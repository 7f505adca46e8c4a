"""`registry-server verify`: re-read the files of READY versions from the
artifact store and compare them with what their manifests recorded.

Every file's bytes are streamed through sha256 in the store's chunks (1 MiB),
on a bounded thread pool with at most ``2 x workers`` files queued, so memory
stays about ``workers`` chunks whatever the sizes of the files. The bytes are
always hashed: neither store keeps a sha256 of its own with an object (an S3
ETag is an MD5, or for multipart uploads an MD5 of the parts' MD5s, and says
nothing a changed byte could not also keep), and a size alone misses a file
whose bytes changed in place.

Findings:

- missing: a file a READY version's manifest names is not in the store;
- changed: it is there with another size or sha256;
- unexpected: an object in scope that no version owns. Objects owned by a
  version's file rows (a pending version's uploads, finished or in flight) are
  not reported: they are not in a manifest yet, and finalize, abort or
  `registry-server gc` deal with them. Unexpected objects are exactly those
  `registry-server gc` would delete;
- unreadable: reading the object failed (the store is down, a permission).

The store is listed before the database is read (as gc does), so an upload
that starts meanwhile is either not listed or already owned; a version deleted
while verify runs is checked again before its files are reported.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from registry_server.artifacts.base import ArtifactStore, object_key
from registry_server.domain.errors import NotFound
from registry_server.store import files, integrity
from registry_server.store.database import Database
from registry_server.store.integrity import RecordedFile

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
DEFAULT_WORKERS = 4
# The S3 store's connection pool holds 32 connections (artifacts/s3.py): more
# threads would open connections it then throws away.
MAX_WORKERS = 32


@dataclass(frozen=True, slots=True)
class FileFinding:
    """A file of a READY version that is missing or changed in the store."""

    model: str
    version: int
    path: str
    key: str
    expected_size: int
    expected_sha256: str
    size: int | None = None  # what the store holds; None when missing
    sha256: str | None = None
    error: str | None = None  # unreadable: why

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "model": self.model,
            "version": self.version,
            "path": self.path,
            "key": self.key,
            "expected_size": self.expected_size,
            "expected_sha256": self.expected_sha256,
        }
        if self.size is not None:
            out["size"] = self.size
            out["sha256"] = self.sha256
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(slots=True)
class VerifyReport:
    store: str
    versions: int = 0
    files: int = 0
    bytes: int = 0
    missing: list[FileFinding] = field(default_factory=list)
    changed: list[FileFinding] = field(default_factory=list)
    unreadable: list[FileFinding] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.unreadable or self.unexpected)

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "store": self.store,
            "checked": {"versions": self.versions, "files": self.files, "bytes": self.bytes},
            "missing": [f.as_dict() for f in self.missing],
            "changed": [f.as_dict() for f in self.changed],
            "unreadable": [f.as_dict() for f in self.unreadable],
            "unexpected": [{"key": k} for k in self.unexpected],
        }


@dataclass(frozen=True, slots=True)
class _Read:
    size: int | None  # None: missing
    sha256: str | None
    error: str | None = None


def _read(store: ArtifactStore, key: str) -> _Read:
    """Stream one object through sha256; only one chunk is held at a time."""
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in store.open_stream(key):
            digest.update(chunk)
            size += len(chunk)
    except KeyError:
        return _Read(None, None)
    except Exception as exc:  # reported per file, the others still get checked
        log.debug("could not read %s", key, exc_info=True)
        return _Read(None, None, f"{type(exc).__name__}: {exc}")
    return _Read(size, digest.hexdigest())


class Verifier:
    def __init__(self, db: Database, store: ArtifactStore) -> None:
        self.db = db
        self.store = store

    def verify(
        self,
        *,
        models: Sequence[str] = (),
        since_ms: int | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> VerifyReport:
        """Check every READY version in scope (all, or those of ``models``,
        created at or after ``since_ms``); raise NotFound for a model name
        that names no model."""
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}")
        model_ids: list[int] | None = None
        if models:
            with self.db.read() as conn:
                found = integrity.model_ids(conn, models)
            unknown = [m for m in models if m not in found]
            if unknown:
                raise NotFound(f"no model named {', '.join(map(repr, unknown))}")
            model_ids = sorted(set(found.values()))
        report = VerifyReport(store=self.store.describe())
        # Listed first, then the database: see the module docstring.
        listed = self._listed(model_ids)
        with self.db.read() as conn:
            owned = files.owned_keys(conn)
            in_scope = integrity.ready_versions(conn, model_ids=model_ids, since_ms=since_ms)
        report.versions = len(in_scope)
        self._check_files(report, model_ids, since_ms, workers)
        scope = in_scope if since_ms is not None else None
        report.unexpected = self._unexpected(listed, owned, scope)
        report.missing.sort(key=lambda f: f.key)
        report.changed.sort(key=lambda f: f.key)
        report.unreadable.sort(key=lambda f: f.key)
        return report

    def _listed(self, model_ids: Sequence[int] | None) -> list[str]:
        if model_ids is None:
            return list(self.store.list_keys())
        return [k for m in model_ids for k in self.store.list_keys(f"{m}/")]

    def _recorded(
        self, model_ids: Sequence[int] | None, since_ms: int | None
    ) -> Iterator[RecordedFile]:
        after: tuple[int, str] | None = None
        while True:
            with self.db.read() as conn:
                page = integrity.ready_files_page(
                    conn, after=after, limit=PAGE_SIZE, model_ids=model_ids, since_ms=since_ms
                )
            yield from page
            if len(page) < PAGE_SIZE:
                return
            after = (page[-1].version_id, page[-1].path)

    def _check_files(
        self,
        report: VerifyReport,
        model_ids: Sequence[int] | None,
        since_ms: int | None,
        workers: int,
    ) -> None:
        pending: dict[Future[_Read], RecordedFile] = {}

        def settle(done: set[Future[_Read]]) -> None:
            for future in done:
                self._record(report, pending.pop(future), future.result())

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
            for recorded in self._recorded(model_ids, since_ms):
                if len(pending) >= 2 * workers:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    settle(done)
                key = object_key(recorded.model_id, recorded.version, recorded.path)
                pending[pool.submit(_read, self.store, key)] = recorded
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                settle(done)

    def _record(self, report: VerifyReport, recorded: RecordedFile, read: _Read) -> None:
        report.files += 1
        if read.size is not None:
            report.bytes += read.size
        if read.error is None and read.size == recorded.size and read.sha256 == recorded.sha256:
            return
        if not self._still_recorded(recorded):
            return  # deleted or replaced while verify ran: nothing wrong
        finding = FileFinding(
            model=recorded.model_name,
            version=recorded.version,
            path=recorded.path,
            key=object_key(recorded.model_id, recorded.version, recorded.path),
            expected_size=recorded.size,
            expected_sha256=recorded.sha256,
            size=read.size,
            sha256=read.sha256,
            error=read.error,
        )
        if read.error is not None:
            report.unreadable.append(finding)
        elif read.size is None:
            report.missing.append(finding)
        else:
            report.changed.append(finding)

    def _still_recorded(self, recorded: RecordedFile) -> bool:
        with self.db.read() as conn:
            return integrity.still_recorded(
                conn, recorded.version_id, recorded.path, recorded.sha256
            )

    def _unexpected(
        self, listed: list[str], owned: set[str], versions: set[tuple[int, int]] | None
    ) -> list[str]:
        """Listed keys no version owns; with ``versions``, only those in the
        folders of these (model id, version) pairs."""
        found = []
        for key in listed:
            if key in owned:
                continue
            if versions is not None and _version_of(key) not in versions:
                continue
            found.append(key)
        # Deleted since the listing (a version deleted meanwhile): not unexpected.
        return sorted(k for k in found if self.store.size(k) is not None)


def _version_of(key: str) -> tuple[int, int] | None:
    parts = key.split("/", 2)
    if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])
