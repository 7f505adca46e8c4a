"""The embedded artifact store: a folder on the local disk.

Writes go to a temporary file beside the target and are renamed into place,
so a crash never leaves a half-written file under a real key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from registry_server.artifacts.base import CHUNK_SIZE, StoredObject

# Linux's PATH_MAX, with its terminating NUL: open() refuses longer paths
# (ENAMETOOLONG).
_PATH_MAX_BYTES = 4095


class LocalArtifactStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        # A key becomes root/key; put_stream first writes a temporary file
        # beside it, ".upload-" plus 8 characters, which can be up to 16 bytes
        # longer than a key with a one-letter name.
        self.max_key_bytes = _PATH_MAX_BYTES - len(os.fsencode(self.root)) - 1 - 16

    def describe(self) -> str:
        return f"local folder {self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents and path != self.root:
            raise ValueError(f"key {key!r} escapes the store")
        return path

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(size, digest.hexdigest())

    def open_stream(self, key: str, offset: int = 0) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        handle = path.open("rb")

        def chunks() -> Iterator[bytes]:
            with handle:
                handle.seek(offset)
                while block := handle.read(CHUNK_SIZE):
                    yield block

        return chunks()

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def presign_get(self, key: str, expires_seconds: int) -> str | None:
        return None

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.exists():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def delete_key(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.exists():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".upload-"):
                yield path.relative_to(self.root).as_posix()
