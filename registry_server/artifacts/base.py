"""The ArtifactStore protocol and the helpers both implementations share.

Keys are '/'-separated and relative to the store's root (bucket prefix or
folder): `<model-id>/<version>/<path>`. Model ids, not names, so renaming a
model moves nothing.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredObject:
    size: int
    sha256: str


class ArtifactStore(Protocol):
    """What the domain needs from an artifact store. Implementations raise
    registry_server.domain.errors.Unavailable when the backend is unreachable."""

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Store the bytes under key without holding them all in memory."""
        ...

    def open_stream(self, key: str, offset: int = 0) -> Iterator[bytes]:
        """Yield the object's bytes from offset; raise KeyError if missing."""
        ...

    def size(self, key: str) -> int | None:
        """Stored size of key, None if it does not exist."""
        ...

    def presign_get(self, key: str, expires_seconds: int) -> str | None:
        """A URL for direct HTTP GET, or None when the store cannot presign."""
        ...

    def delete_key(self, key: str) -> None:
        """Delete one object (no error if it is missing)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under prefix; return how many."""
        ...

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under prefix (for garbage collection)."""
        ...

    def describe(self) -> str:
        """Where the store is, for logs."""
        ...


class HashingReader:
    """A file-like view over an iterator of chunks that hashes as it is read.

    The S3 client pulls fixed-size parts through read(n); only the current
    chunk and one part are ever in memory.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._done = False
        self.size = 0
        self._hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buffer) < n):
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = True
                break
            self._hash.update(chunk)
            self.size += len(chunk)
            self._buffer += chunk
        if n < 0 or n >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(self._buffer[:n])
            del self._buffer[:n]
        return data

    def stored(self) -> StoredObject:
        return StoredObject(self.size, self._hash.hexdigest())


@dataclass(frozen=True, slots=True)
class _End:
    """What the read-ahead thread queues last: the source's error, if any."""

    error: BaseException | None = None


class _ReadAhead:
    """Drains an iterator from a thread of its own into a bounded queue."""

    def __init__(self, source: Iterator[bytes], depth: int) -> None:
        self._source = source
        self.queue: queue.Queue[bytes | _End] = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="artifact-read-ahead", daemon=True)
        self._thread.start()

    def _offer(self, item: bytes | _End) -> bool:
        """Queue ``item`` (blocking while the queue is full); False once stopped."""
        if self._stopped.is_set():
            return False
        self.queue.put(item)
        return not self._stopped.is_set()

    def _run(self) -> None:
        try:
            for chunk in self._source:
                if not self._offer(chunk):
                    return
            self._offer(_End())
        except BaseException as exc:  # handed to the consumer, raised in its thread
            self._offer(_End(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()  # a generator's cleanup (e.g. releasing the HTTP connection)

    def stop(self) -> None:
        """Make the thread end after at most one more chunk.

        Setting the flag before draining matters: a ``put`` blocked on a full
        queue gets room from the drain, returns, sees the flag and ends, so
        the thread never waits for a consumer that has gone.
        """
        self._stopped.set()
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return


def read_ahead(chunks: Iterable[bytes], depth: int = 2) -> Iterator[bytes]:
    """``chunks``, fetched up to ``depth`` chunks ahead of the consumer.

    Why: a streamed download alternates between waiting for the store and
    waiting for gRPC to send the previous message; fetching the next chunk
    in another thread overlaps the two (socket reads and gRPC sends release
    the GIL). Memory stays bounded: at most ``depth`` queued chunks, one
    being fetched and one being sent. Errors of the source are raised here,
    in the consumer's thread; closing this generator early (a cancelled RPC)
    stops the thread and closes the source.
    """
    reader = _ReadAhead(iter(chunks), depth)
    try:
        while True:
            item = reader.queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        reader.stop()


def version_prefix(model_id: int, version: int) -> str:
    return f"{model_id}/{version}/"


def model_prefix(model_id: int) -> str:
    return f"{model_id}/"


def object_key(model_id: int, version: int, path: str) -> str:
    return f"{model_id}/{version}/{path}"
