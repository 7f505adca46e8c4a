"""The production artifact store: any S3 API (MinIO, AWS S3, ...) through the
`minio` client.

Uploads of unknown length go up as multipart with a fixed part size,
PARALLEL_PARTS parts at a time, so what the server holds per upload depends on
the part size, not the file size: the parts in flight, the part being read and
HashingReader's buffer, about 120 MiB with 16 MiB parts (bench/artifact_transfer.py
measures it).
Connection failures become Unavailable quickly (short timeouts, few retries):
the caller retries, not a hidden loop in here. Within a call that has a
deadline, each request's connect and read timeouts are also cut to the time
the call has left (registry_server/deadline.py), so an endpoint that accepts
connections and then says nothing (a black hole) releases the worker about
when the caller gives up, at most (1 + retries) times that, instead of after
CONNECT_TIMEOUT/READ_TIMEOUT per attempt. Parts uploaded in parallel run on
minio's own threads, which do not see the call's deadline: they keep the
fixed timeouts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, BinaryIO, TypeVar, cast

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from registry_server import deadline
from registry_server.artifacts.base import CHUNK_SIZE, HashingReader, StoredObject
from registry_server.domain.errors import Unavailable
from registry_server.text import EscapingFilter

log = logging.getLogger(__name__)
log.addFilter(EscapingFilter())  # messages may repeat caller text

PART_SIZE = 16 * 1024 * 1024
# S3's limit on an object key (AWS, MinIO), bytes of UTF-8, prefix included.
MAX_S3_KEY_BYTES = 1024
PARALLEL_PARTS = 3  # minio's default, spelled out: it multiplies the memory per upload
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 60.0  # between two reads of a response, not for all of it
#: Below this a request cannot succeed anyway; it fails fast instead.
MIN_TIMEOUT = 0.05
T = TypeVar("T")

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


class _DeadlinePoolManager(urllib3.PoolManager):
    """Cuts each request's timeouts to what the current call has left."""

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]
        left = deadline.remaining()
        if left is not None and "timeout" not in kw:
            left = max(left, MIN_TIMEOUT)
            kw["timeout"] = urllib3.Timeout(
                connect=min(CONNECT_TIMEOUT, left), read=min(READ_TIMEOUT, left)
            )
        return super().urlopen(method, url, redirect, **kw)


class S3ArtifactStore:
    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        prefix: str = "",
        access_key: str | None = None,
        secret_key: str | None = None,
        secure: bool = True,
        region: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.max_key_bytes = MAX_S3_KEY_BYTES - (
            len(self.prefix.encode("utf-8")) + 1 if self.prefix else 0
        )
        if self.max_key_bytes < MAX_S3_KEY_BYTES // 2:
            raise ValueError(
                f"artifact store prefix {self.prefix[:40]!r}... is too long: it would leave "
                f"{max(self.max_key_bytes, 0)} of S3's {MAX_S3_KEY_BYTES} key bytes for "
                "the files' own keys"
            )
        self.secure = secure
        http = _DeadlinePoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            maxsize=32,
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
            ),
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        self._bucket_ready = False

    def _unavailable(self) -> Unavailable:
        return Unavailable(f"the artifact store is unavailable ({self.endpoint}); retry")

    def describe(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"s3 bucket {self.bucket!r} prefix {self.prefix!r} at {scheme}://{self.endpoint}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _unkey(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def _guard(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                # The bucket vanished (e.g. a wiped test endpoint): create it
                # again and retry once.
                self._bucket_ready = False
                self.ensure_bucket()
                return action()
            raise
        except _CONNECTION_ERRORS as exc:
            log.warning("artifact store unreachable: %s", exc)
            raise Unavailable(
                f"the artifact store is unavailable ({self.endpoint}); retry"
            ) from exc

    def ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        except _CONNECTION_ERRORS as exc:
            raise Unavailable(
                f"the artifact store is unavailable ({self.endpoint}); retry"
            ) from exc
        self._bucket_ready = True

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        # The streamed bytes cannot be replayed, so make sure of the bucket
        # first (one HEAD per upload) rather than retrying after a failure.
        self._bucket_ready = False
        self.ensure_bucket()
        reader = HashingReader(chunks)

        def put() -> None:
            self.client.put_object(
                self.bucket,
                self._key(key),
                # minio only calls read(n) on it, which HashingReader provides.
                cast(BinaryIO, reader),
                length=-1,
                part_size=PART_SIZE,
                num_parallel_uploads=PARALLEL_PARTS,
                content_type="application/octet-stream",
            )

        try:
            put()
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
            self._bucket_ready = False
            raise self._unavailable() from exc
        except _CONNECTION_ERRORS as exc:
            log.warning("artifact upload failed: %s", exc)
            raise Unavailable(
                f"the artifact store is unavailable ({self.endpoint}); retry"
            ) from exc
        return reader.stored()

    def open_stream(self, key: str, offset: int = 0) -> Iterator[bytes]:
        try:
            response = self._guard(
                lambda: self.client.get_object(self.bucket, self._key(key), offset=offset)
            )
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise KeyError(key) from None
            raise

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.stream(CHUNK_SIZE)
            except _CONNECTION_ERRORS as exc:
                raise self._unavailable() from exc
            finally:
                response.close()
                response.release_conn()

        return chunks()

    def size(self, key: str) -> int | None:
        try:
            stat = self._guard(lambda: self.client.stat_object(self.bucket, self._key(key)))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise
        return stat.size

    def presign_get(self, key: str, expires_seconds: int) -> str | None:
        return self.client.presigned_get_object(
            self.bucket, self._key(key), expires=timedelta(seconds=expires_seconds)
        )

    def delete_key(self, key: str) -> None:
        self._guard(lambda: self.client.remove_object(self.bucket, self._key(key)))

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._key(k) for k in self.list_keys(prefix)]
        if not keys:
            return 0

        def remove() -> list[object]:
            return list(self.client.remove_objects(self.bucket, (DeleteObject(k) for k in keys)))

        errors = self._guard(remove)
        if errors:
            log.warning("could not delete %d objects under %s: %s", len(errors), prefix, errors)
        return len(keys) - len(errors)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        self.ensure_bucket()
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")

        def listing() -> list[str]:
            return [
                o.object_name
                for o in self.client.list_objects(self.bucket, prefix=full, recursive=True)
                if o.object_name
            ]

        for name in self._guard(listing):
            yield self._unkey(name)
