"""Build an artifact store from its URL (flag --artifact-store /
REGISTRY_ARTIFACT_STORE):

    s3://bucket[/prefix][?endpoint=host:port&secure=false&region=r]
    file:///abs/path  or a plain folder path (the embedded default)

S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, never
from the URL, so the URL can sit in a ConfigMap.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

from registry_server.artifacts.base import ArtifactStore
from registry_server.artifacts.local import LocalArtifactStore
from registry_server.artifacts.s3 import S3ArtifactStore

_TRUE = {"1", "true", "yes", "on"}


def from_url(url: str) -> ArtifactStore:
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"artifact store {url!r}: the bucket name is missing (s3://bucket)")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        unknown = set(query) - {"endpoint", "secure", "region"}
        if unknown:
            raise ValueError(f"artifact store {url!r}: unknown options {sorted(unknown)}")
        endpoint = query.get("endpoint", "s3.amazonaws.com")
        secure = query.get("secure", "true").lower() in _TRUE
        store = S3ArtifactStore(
            endpoint=endpoint,
            bucket=parsed.netloc,
            prefix=parsed.path,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            secure=secure,
            region=query.get("region") or os.environ.get("AWS_REGION"),
        )
        return store
    if parsed.scheme == "file":
        return LocalArtifactStore(parsed.path)
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # plain or Windows path
        return LocalArtifactStore(url)
    raise ValueError(f"artifact store {url!r}: use s3://bucket/... or a folder path")
