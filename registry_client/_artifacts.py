"""Moving files of registry-held versions: manifests, uploads, downloads.

``RegistryClient`` methods delegate here so that ``_client`` keeps to the
one-method-per-RPC surface. Every RPC still goes through
``RegistryClient._call``; what this module adds is the file handling around
it, with three promises:

* memory stays flat: files are hashed, sent and received in 1 MiB chunks;
* nothing wrong is left on disk: a download goes to a temporary file next to
  its destination and is renamed over it only once size and sha256 match the
  manifest; temporary files are removed on every failure;
* one failing transfer stops the others: parallel transfers share a
  ``_CancelScope`` that cancels the in-flight calls.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import suppress
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import grpc

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.wire import DownloadPiece
from registry_client._errors import (
    ChecksumMismatch,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    RegistryError,
    Unavailable,
)
from registry_client._types import ArtifactFile, DownloadedModel, Lineage, ModelVersion

if TYPE_CHECKING:
    from registry_client._client import RegistryClient

log = logging.getLogger("registry_client")

CHUNK_SIZE = 1 << 20

#: ``progress(bytes_done, bytes_total)``, called from worker threads (one
#: call at a time) as bytes are hashed, sent or received.
ProgressCallback = Callable[[int, int], None]

_HTTP_TIMEOUT = 60.0  # seconds without a byte before a presigned GET gives up
_MAX_ABORT_REASON = 1000

T = TypeVar("T")
R = TypeVar("R")


# -- paths and manifests --------------------------------------------------------------


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a valid artifact path (the server's rules), or None."""
    if not path:
        return "is empty"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "is absolute"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "contains control characters"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "has an empty, '.' or '..' segment"
    return None


def local_target(root: str, path: str) -> str:
    """Where the artifact ``path`` goes under ``root``, refusing to escape it.

    The server validates paths too; this check makes the client safe even
    against a server that does not.
    """
    problem = path_problem(path)
    target = os.path.join(root, *path.split("/"))
    if problem is None and os.path.commonpath([root, target]) != root:
        problem = "escapes the destination"
    if problem is not None:
        raise Internal(f"server sent an unsafe artifact path {path!r}: it {problem}")
    return target


def local_files(local_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(artifact path, local path)`` of every file under ``local_dir``, sorted.

    Regular files and symbolic links to regular files are taken; directories
    are walked (symbolic links to directories are not, they could loop).
    Anything else is refused rather than silently left out.
    """
    root = os.fspath(local_dir)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root!r} is not a directory")
    found: list[tuple[str, str]] = []

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, rel + "/")
                elif entry.is_file():
                    problem = path_problem(rel)
                    if problem is not None:
                        raise ValueError(f"{entry.path!r} cannot be uploaded: its path {problem}")
                    found.append((rel, entry.path))
                else:
                    raise ValueError(
                        f"{entry.path!r} is not a regular file or directory "
                        "(symbolic links to directories are not followed)"
                    )

    walk(root, "")
    found.sort()
    return found


def file_digest(local_path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(size, sha256 hex)`` of a local file, read in chunks."""
    with open(local_path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256")
        return f.tell(), digest.hexdigest()


def compute_manifest(
    local_dir: str | os.PathLike[str], *, max_workers: int = 4
) -> list[ArtifactFile]:
    """The manifest of a local folder, as ``log_model_version`` uploads it.

    One entry per file (symbolic links to files included, links to folders
    refused), with its path relative to ``local_dir`` using '/', its size and
    sha256; sorted by path. Pass it to ``finalize_model_version`` after
    uploading the files yourself.
    """

    def entry(item: tuple[str, str]) -> ArtifactFile:
        size, sha256 = file_digest(item[1])
        return ArtifactFile(item[0], size, sha256)

    return run_parallel(entry, local_files(local_dir), max_workers, _CancelScope())


# -- concurrency --------------------------------------------------------------------


class _Cancelled(Exception):
    """A transfer stopped because another one failed (never reaches callers)."""


class _CancelScope:
    """Cancels the in-flight calls of a group of transfers at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: weakref.WeakSet[Any] = weakref.WeakSet()
        self.cancelled = False

    def register(self, call: grpc.Future) -> None:
        with self._lock:
            if not self.cancelled:
                self._calls.add(call)
                return
        call.cancel()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            calls = list(self._calls)
        for call in calls:
            call.cancel()

    def check(self) -> None:
        if self.cancelled:
            raise _Cancelled()


def run_parallel(
    fn: Callable[[T], R], items: Sequence[T], max_workers: int, scope: _CancelScope
) -> list[R]:
    """``[fn(item) for item in items]`` on up to ``max_workers`` threads.

    The first failure (or a KeyboardInterrupt) cancels the scope and the
    items not started yet, waits for the running ones to stop, and is raised.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
    if not items:
        return []
    workers = min(max_workers, len(items))
    with ThreadPoolExecutor(workers, thread_name_prefix="registry-transfer") as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                if future.done() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
        except BaseException:
            scope.cancel()
            for future in futures:
                future.cancel()
            raise
    return [future.result() for future in futures]


class _Progress:
    """Thread-safe byte counter feeding a ``ProgressCallback``."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self._lock = threading.Lock()
        self._callback = callback
        self.total = total
        self.done = 0

    def add(self, n: int) -> None:
        if self._callback is None or n == 0:
            return
        with self._lock:
            self.done += n
            self._callback(self.done, self.total)


# -- upload -------------------------------------------------------------------------


class _UploadStream:
    """The request stream of one UploadArtifact attempt: header, then chunks.

    gRPC reads it from its own thread, so reads and ``close`` take a lock:
    closing after the call ended cannot race a read in flight.
    """

    def __init__(
        self, header: pb.UploadArtifactRequest.Header, local_path: str, progress: _Progress
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
    client: RegistryClient,
    name: str,
    version: int,
    local_path: str | os.PathLike[str],
    path: str,
    *,
    progress: _Progress | None = None,
    scope: _CancelScope | None = None,
) -> ArtifactFile:
    """Upload one file; on UNAVAILABLE the whole file is sent again.

    A failed upload records nothing on the server, so resending is safe. If
    the failure was only the response getting lost, the resend is refused
    (the path is taken); the file is then looked up and accepted if the
    server holds exactly our bytes.
    """
    header = pb.UploadArtifactRequest.Header(name=name, version=version, path=path)
    tracker = progress or _Progress(0, None)
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
    except InvalidArgument:
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
    client: RegistryClient, name: str, version: int, path: str, local_path: str | os.PathLike[str]
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
    client: RegistryClient,
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
        tracker = _Progress(sum(stat.st_size for _, _, stat in files), progress)
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
        scope = _CancelScope()

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
    client: RegistryClient, mv: ModelVersion, manifest: list[ArtifactFile]
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


# -- download -----------------------------------------------------------------------


# Files at least this large are written and hashed by a thread of their own
# while the next chunks arrive (see _BackgroundWriter).
_BACKGROUND_MIN_BYTES = 8 * CHUNK_SIZE
_BACKGROUND_QUEUE_CHUNKS = 8


class _BackgroundWriter:
    """Writes and hashes received chunks in a thread of its own.

    Receiving a chunk (gRPC, or a presigned GET) and writing plus hashing it
    took turns in one thread; sha256 and the file write release the GIL, so
    in a second thread they overlap with receiving the next chunk (a 1 GiB
    presigned download went from about 590 to 710 MB/s on the 2-core bench
    machine). At most `_BACKGROUND_QUEUE_CHUNKS` chunks wait, so memory stays
    flat. An error (a full disk) is raised by the next `put` or by `close`.
    """

    def __init__(self, out: BinaryIO, digest: Any) -> None:
        self._out = out
        self._digest = digest
        self._queue: queue.Queue[bytes | None] = queue.Queue(_BACKGROUND_QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="registry-download-writer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:  # after an error, drain without writing
                try:
                    self._out.write(data)
                    self._digest.update(data)
                except BaseException as exc:  # handed to the caller by put or close
                    self._error = exc

    def put(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def close(self) -> None:
        """Wait until every chunk is written; raise the thread's error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class _Sink:
    """Writes received bytes to a file, hashing and counting them.

    ``limit`` (the manifest size, once known) stops a stream that sends more
    than the file has before it fills the disk. With ``background``, a large
    file is written and hashed in a second thread (``_BackgroundWriter``):
    call ``finish`` before closing the file, ``abandon`` on failure.
    """

    def __init__(
        self,
        out: BinaryIO,
        *,
        start: int = 0,
        limit: int | None = None,
        progress: _Progress | None = None,
        scope: _CancelScope | None = None,
        path: str = "",
        background: bool = False,
    ) -> None:
        self.out = out
        self.start = start
        self.limit = limit
        self.path = path
        self._progress = progress or _Progress(0, None)
        self._scope = scope or _CancelScope()
        self._background = background
        self._writer: _BackgroundWriter | None = None
        self.hash = hashlib.sha256()
        self.written = 0

    @property
    def position(self) -> int:
        return self.start + self.written

    def write(self, data: bytes) -> None:
        self._scope.check()
        if self.limit is not None and self.position + len(data) > self.limit:
            raise ChecksumMismatch(
                f"{self.path!r}: received more than the {self.limit} bytes in the manifest",
                path=self.path,
            )
        large = (self.limit or 0) >= _BACKGROUND_MIN_BYTES
        if self._writer is None and self._background and large:
            self._writer = _BackgroundWriter(self.out, self.hash)
        if self._writer is not None:
            self._writer.put(data)
        else:
            self.out.write(data)
            self.hash.update(data)
        self.written += len(data)
        self._progress.add(len(data))

    def finish(self) -> None:
        """Wait until all bytes written so far are in the file and the hash."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def abandon(self) -> None:
        """Stop the background writer, if any, ignoring its error: the
        transfer failed already."""
        with suppress(BaseException):
            self.finish()

    def reset(self) -> None:
        """Start over from ``start`` (after a failed presigned download)."""
        self.abandon()
        self.out.seek(0)
        self.out.truncate()
        self._progress.add(-self.written)
        self.hash = hashlib.sha256()
        self.written = 0

    def verify(self, expected: ArtifactFile) -> None:
        """Raise ChecksumMismatch unless the file now matches ``expected``.

        After a partial download (``start`` > 0) only the size can be checked.
        """
        self.finish()
        sha256 = self.hash.hexdigest() if self.start == 0 else expected.sha256
        if (self.position, sha256) != (expected.size, expected.sha256):
            raise ChecksumMismatch(
                f"{expected.path!r}: received {self.position} bytes with sha256 {sha256}, "
                f"the manifest says {expected.size} bytes with sha256 {expected.sha256}",
                path=expected.path,
                expected=(expected.size, expected.sha256),
                actual=(self.position, sha256),
            )


def stream_file(
    client: RegistryClient,
    name: str,
    version: int,
    path: str,
    sink: _Sink,
    scope: _CancelScope | None = None,
) -> ArtifactFile:
    """Stream a file into ``sink`` with DownloadArtifact, from ``sink.position``.

    A stream broken by UNAVAILABLE resumes where it stopped (the retry asks
    for the offset of the bytes already written). Returns the manifest entry
    the server sent with the stream.
    """
    entry: list[ArtifactFile] = []

    def request() -> pb.DownloadArtifactRequest:
        return pb.DownloadArtifactRequest(
            name=name, version=version, path=path, offset=sink.position
        )

    def consume(stream: Iterable[DownloadPiece]) -> None:
        for piece in stream:
            if piece.file is not None and not entry:
                entry.append(ArtifactFile._from_proto(piece.file))
                if sink.limit is None:
                    sink.limit = entry[0].size
            if piece.chunk:
                sink.write(piece.chunk)

    client._call(
        "DownloadArtifact",
        request,
        retry_safe=True,
        transfer=True,
        consume=consume,
        on_call=scope.register if scope is not None else None,
    )
    if not entry:
        raise Internal(f"the server sent no manifest entry with {path!r}")
    return entry[0]


def _fetch_url(url: str, sink: _Sink) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise urllib.error.URLError(f"not an http(s) URL: {url.split('?')[0]!r}")
    with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT) as response:
        while data := response.read(CHUNK_SIZE):
            sink.write(data)


def _is_current(target: str, entry: ArtifactFile) -> bool:
    try:
        return os.path.getsize(target) == entry.size and file_digest(target)[1] == entry.sha256
    except OSError:  # missing, a directory, unreadable: download it
        return False


def _fetch_into(
    client: RegistryClient,
    mv: ModelVersion,
    entry: ArtifactFile,
    url: str | None,
    sink: _Sink,
    scope: _CancelScope,
) -> None:
    """The file's bytes into ``sink``: from its presigned URL when there is
    one, else (or when that fails) streamed from the registry."""
    if url is not None:
        try:
            _fetch_url(url, sink)
            return
        except (OSError, http.client.HTTPException) as exc:
            log.warning(
                "presigned download of %r failed (%s); streaming it from the registry",
                entry.path,
                exc,
            )
            sink.reset()
    stream_file(client, mv.name, mv.version, entry.path, sink, scope)


def _download_one(
    client: RegistryClient,
    mv: ModelVersion,
    entry: ArtifactFile,
    target: str,
    url: str | None,
    progress: _Progress,
    scope: _CancelScope,
) -> None:
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    # Same folder, hence same file system: the final rename is atomic. Not
    # mkstemp: its 0600 mode would stick to the final file; this one gets
    # the usual umask-based mode.
    name = f".{os.path.basename(target)[:100]}.{uuid.uuid4().hex[:12]}.part"
    temp = os.path.join(folder, name)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            sink = _Sink(
                out,
                limit=entry.size,
                progress=progress,
                scope=scope,
                path=entry.path,
                background=True,
            )
            try:
                _fetch_into(client, mv, entry, url, sink, scope)
            except BaseException:
                sink.abandon()
                raise
            sink.finish()
        sink.verify(entry)
        os.replace(temp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def download_model(
    client: RegistryClient,
    uri: str,
    dst_dir: str | os.PathLike[str],
    *,
    max_workers: int,
    prefer_presigned: bool,
    progress: ProgressCallback | None,
) -> DownloadedModel:
    """See ``RegistryClient.download_artifacts``."""
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
    # The one and only resolution of the URI: everything below uses the exact
    # name and version it returned, so a moving alias cannot mix versions.
    listing = client.list_artifacts_with_version(uri)
    mv = listing.model_version
    root = os.path.abspath(dst_dir)
    targets = [(entry, local_target(root, entry.path)) for entry in listing.files]
    os.makedirs(root, exist_ok=True)
    scope = _CancelScope()
    current = run_parallel(lambda t: _is_current(t[1], t[0]), targets, max_workers, scope)
    todo = [t for t, ok in zip(targets, current, strict=True) if not ok]
    tracker = _Progress(sum(e.size for e, _ in targets), progress)
    tracker.add(sum(e.size for e, _ in targets) - sum(e.size for e, _ in todo))
    urls: dict[str, str] = {}
    if todo and prefer_presigned:
        try:
            presigned = client.get_artifact_download_urls(
                mv.name, mv.version, paths=[e.path for e, _ in todo]
            )
        except RegistryError as exc:
            if exc.code != grpc.StatusCode.UNIMPLEMENTED:  # an older server: stream
                raise
        else:
            if presigned.supported:
                urls = {u.file.path: u.url for u in presigned.urls}
    run_parallel(
        lambda t: _download_one(client, mv, t[0], t[1], urls.get(t[0].path), tracker, scope),
        todo,
        max_workers,
        scope,
    )
    fetched = {e.path for e, _ in todo}
    return DownloadedModel(
        model_version=mv,
        local_dir=root,
        files=listing.files,
        downloaded=tuple(e.path for e, _ in targets if e.path in fetched),
        skipped=tuple(e.path for e, _ in targets if e.path not in fetched),
    )
