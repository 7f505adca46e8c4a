"""A file larger than one S3 part goes up as a multipart upload and comes back intact.

Runs on the "postgresql" backend only (PostgreSQL + the S3 endpoint over HTTP):
the embedded folder store has no parts. The file goes through the real server
with the public client (``log_model_version`` / ``download_artifacts``); the
stored object is then inspected with the ``minio`` client directly, bypassing
the server, at ``<prefix>/<model-id>/<version>/<path>``.

An S3 multipart object's ETag is ``md5(md5(part 1) + ... + md5(part n))-n``
(quotes stripped), a single PUT's is the plain md5 of the body. Checking the
full ETag against the local file, not just its ``-n`` suffix, proves both that
the server used multipart and that every part carries our bytes, in order.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.s3 import S3Endpoint

from registry_client import RegistryClient
from registry_server.artifacts.s3 import PART_SIZE

MiB = 1024 * 1024
SIZE = 40 * MiB + 123  # 16 + 16 + 8 MiB and a bit: three parts, the last one short


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(os.urandom(n))
            left -= n


def _multipart_etag(path: Path, part_size: int) -> str:
    """The ETag S3 gives an object uploaded from this file in parts of ``part_size``."""
    digests = b""
    parts = 0
    with open(path, "rb") as f:
        while part := f.read(part_size):
            digests += hashlib.md5(part).digest()
            parts += 1
    return f"{hashlib.md5(digests).hexdigest()}-{parts}"


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.mark.slow
def test_large_file_goes_up_multipart_and_comes_back_identical(
    pg_client: RegistryClient,
    s3: S3Endpoint,
    pg_artifact_store: str,
    model_name: str,
    tmp_path: Path,
) -> None:
    assert SIZE > 2 * PART_SIZE, "the file must span more than two parts"
    src = tmp_path / "model"
    (src / "weights").mkdir(parents=True)
    path = f"weights/big-{uuid.uuid4().hex[:8]}.bin"  # unique in the shared bucket
    _write_random(src / path, SIZE)

    pg_client.create_registered_model(model_name)
    mv = pg_client.log_model_version(model_name, src)
    assert mv.status == "READY"

    # The object, read straight from the bucket (not through the server).
    store = urlsplit(pg_artifact_store)
    bucket, prefix = store.netloc, store.path.strip("/")
    minio = s3.client()
    found = [
        o.object_name
        for o in minio.list_objects(bucket, prefix=f"{prefix}/", recursive=True)
        if o.object_name and o.object_name.endswith(f"/{mv.version}/{path}")
    ]
    assert len(found) == 1, found
    model_id, version, rest = found[0][len(prefix) + 1 :].split("/", 2)
    assert model_id.isdigit() and (int(version), rest) == (mv.version, path)
    stat = minio.stat_object(bucket, found[0])
    assert stat.size == SIZE
    etag = (stat.etag or "").strip('"')
    parts = -(-SIZE // PART_SIZE)
    assert etag.endswith(f"-{parts}"), f"not a {parts}-part multipart upload: ETag {etag!r}"
    assert etag == _multipart_etag(src / path, PART_SIZE)

    # Back through the server's streaming path (no presigned URL), byte for byte.
    dst = tmp_path / "download"
    got = pg_client.download_artifacts(
        f"models:/{model_name}/{mv.version}", dst, prefer_presigned=False
    )
    assert got.downloaded == (path,)
    assert (dst / path).stat().st_size == SIZE
    assert _sha256(dst / path) == _sha256(src / path)
