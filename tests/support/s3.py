"""A real S3 endpoint (spoken to over HTTP) for the test suite.

``s3_endpoint()`` picks the endpoint, in this order (developer guide):

1. ``REGISTRY_TEST_S3_ENDPOINT`` when set (e.g. ``http://127.0.0.1:9000``), with credentials
   from ``REGISTRY_TEST_S3_ACCESS_KEY`` / ``REGISTRY_TEST_S3_SECRET_KEY`` (default
   ``minioadmin``/``minioadmin``);
2. a MinIO container through testcontainers when a Docker engine answers a 2 s ping;
3. moto's standalone S3 server, started as a subprocess on a free loopback port.

moto keeps objects in memory, and a presigned PUT to it must send
``Content-Type: application/octet-stream``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from minio import Minio

from .docker import docker_available
from .net import free_port, wait_for_port

S3_ENDPOINT_ENV = "REGISTRY_TEST_S3_ENDPOINT"
S3_ACCESS_KEY_ENV = "REGISTRY_TEST_S3_ACCESS_KEY"
S3_SECRET_KEY_ENV = "REGISTRY_TEST_S3_SECRET_KEY"
DEFAULT_ACCESS_KEY = "minioadmin"
DEFAULT_SECRET_KEY = "minioadmin"


@dataclass(frozen=True)
class S3Endpoint:
    """Where an S3-compatible server listens and how to authenticate to it."""

    endpoint: str  # "host:port"
    secure: bool
    access_key: str
    secret_key: str

    @property
    def url(self) -> str:
        """``http(s)://host:port``."""
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    def client(self, **kwargs: Any) -> Minio:
        """A ``minio.Minio`` client for this endpoint (extra kwargs go to ``Minio``)."""
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.secure,
            **kwargs,
        )


def endpoint_from_url(url: str, access_key: str, secret_key: str) -> S3Endpoint:
    """Parse ``http(s)://host:port`` (a bare ``host:port`` means http) into an S3Endpoint."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"S3 endpoint must look like http://host:port, got {url!r}")
    if parts.path.strip("/") or parts.query:
        raise ValueError(f"S3 endpoint must not have a path or query, got {url!r}")
    return S3Endpoint(parts.netloc, parts.scheme == "https", access_key, secret_key)


@contextmanager
def s3_endpoint() -> Iterator[S3Endpoint]:
    """Yield an S3 endpoint via the chain above; whatever is started here is stopped on exit."""
    url = os.environ.get(S3_ENDPOINT_ENV, "").strip()
    if url:
        yield endpoint_from_url(
            url,
            os.environ.get(S3_ACCESS_KEY_ENV) or DEFAULT_ACCESS_KEY,
            os.environ.get(S3_SECRET_KEY_ENV) or DEFAULT_SECRET_KEY,
        )
        return

    if docker_available():
        container = _start_minio_container()
        if container is not None:
            try:
                config = container.get_config()
                yield S3Endpoint(
                    config["endpoint"], False, config["access_key"], config["secret_key"]
                )
            finally:
                container.stop()
            return

    with moto_s3_server() as endpoint:
        yield endpoint


def _start_minio_container():
    """Start a MinIO container, or return None (then moto is used) when that fails."""
    try:
        try:
            from testcontainers.community.minio import MinioContainer
        except ImportError:  # testcontainers < 4.10
            from testcontainers.minio import MinioContainer

        container = MinioContainer(access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY)
        container.start()
    except Exception as exc:  # image pull failure, engine hiccup, ...
        print(f"MinIO container could not be started ({exc!r}); using moto", file=sys.stderr)
        return None
    return container


@contextmanager
def moto_s3_server(
    access_key: str = DEFAULT_ACCESS_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    port: int | None = None,
) -> Iterator[S3Endpoint]:
    """Run moto's standalone server as a separate process on a free loopback port.

    moto accepts any credentials; the given ones are only handed to the client.  The process
    (and its process group) is terminated on exit.
    """
    host = "127.0.0.1"
    port = port or free_port(host)
    env = dict(os.environ, MOTO_PORT=str(port))
    with tempfile.TemporaryFile() as log:  # the server's output, shown if it fails to start
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so stopping it gets everything
        )
        try:
            try:
                wait_for_port(host, port, timeout=30, process=proc)
            except (RuntimeError, TimeoutError) as exc:
                _stop(proc)
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RuntimeError(f"moto S3 server did not start: {exc}\n{output}") from exc
            yield S3Endpoint(f"{host}:{port}", False, access_key, secret_key)
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it if it lingers, and reap ``proc``."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=5)
