"""The test-infrastructure helpers in tests/support/ work against real servers."""

from __future__ import annotations

import io
import os
import re
import time
import urllib.request
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from support.docker import docker_available
from support.net import free_port, port_open, wait_for_port
from support.postgres import (
    DATABASE_URL_ENV,
    database_exists,
    find_postgres_bindir,
    local_postgres_cluster,
    postgres_server,
    temporary_database,
)
from support.s3 import (
    S3_ACCESS_KEY_ENV,
    S3_ENDPOINT_ENV,
    S3_SECRET_KEY_ENV,
    S3Endpoint,
    moto_s3_server,
    s3_endpoint,
)

# --------------------------------------------------------------------------- small helpers


def test_docker_available_is_a_fast_cached_bool() -> None:
    started = time.monotonic()
    first = docker_available()
    assert isinstance(first, bool)
    assert docker_available() is first
    assert time.monotonic() - started < 10


def test_free_port_and_wait_for_port() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert not port_open("127.0.0.1", port)
    with pytest.raises(TimeoutError):
        wait_for_port("127.0.0.1", port, timeout=0.2)


# --------------------------------------------------------------------------- PostgreSQL


def _select_one_and_name(url: str) -> tuple[int, str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar_one(), conn.execute(
                sa.text("SELECT current_database()")
            ).scalar_one()
    finally:
        engine.dispose()


def _check_temporary_database(server_url: str) -> None:
    with temporary_database(server_url) as url:
        name = make_url(url).database
        assert name is not None
        assert re.fullmatch(r"registry_test_[0-9a-f]{8}", name)
        assert _select_one_and_name(url) == (1, name)
        # A connection still open when the context exits must not stop the drop.
        lingering = sa.create_engine(url, poolclass=NullPool).connect()
        lingering.execute(sa.text("SELECT 1"))
    try:
        assert not database_exists(server_url, name)
    finally:
        lingering.invalidate()
        lingering.close()


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_temporary_database_lifecycle(server_url: str) -> None:
    _check_temporary_database(server_url)


def test_temporary_database_names_are_unique(server_url: str) -> None:
    with (
        temporary_database(server_url) as first,
        temporary_database(server_url, prefix="other_test") as second,
    ):
        assert make_url(first).database != make_url(second).database
        assert make_url(second).database.startswith("other_test_")


def test_temporary_database_rejects_odd_prefix(server_url: str) -> None:
    with pytest.raises(ValueError), temporary_database(server_url, prefix='x"; DROP'):
        pass


def test_postgres_server_uses_env_url_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg2://someone@db.invalid:6543/postgres"
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    with postgres_server() as got:
        assert got == url


@pytest.mark.slow
def test_local_postgres_cluster() -> None:
    if find_postgres_bindir() is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb/pg_ctl) on PATH or in /usr/lib/postgresql"
        )
    with local_postgres_cluster() as url:
        parsed = make_url(url)
        assert parsed.host == "127.0.0.1"
        assert parsed.database == "postgres"
        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                assert "PostgreSQL" in conn.execute(sa.text("SELECT version()")).scalar_one()
                assert conn.execute(sa.text("SHOW listen_addresses")).scalar_one() == "127.0.0.1"
        finally:
            engine.dispose()
        _check_temporary_database(url)
    assert not port_open("127.0.0.1", parsed.port)


# --------------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def moto() -> Iterator[S3Endpoint]:
    with moto_s3_server() as endpoint:
        yield endpoint


def test_moto_put_get_and_presigned(moto: S3Endpoint) -> None:
    client = moto.client()
    assert moto.url == f"http://{moto.endpoint}"
    client.make_bucket("support-basic")
    assert client.bucket_exists("support-basic")

    data = b"hello, registry"
    client.put_object("support-basic", "a/b.txt", io.BytesIO(data), length=len(data))
    response = client.get_object("support-basic", "a/b.txt")
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()

    get_url = client.presigned_get_object("support-basic", "a/b.txt")
    with urllib.request.urlopen(get_url, timeout=10) as http:
        assert http.read() == data

    # moto wants this exact Content-Type on a presigned PUT.
    put_url = client.presigned_put_object("support-basic", "presigned.bin")
    request = urllib.request.Request(
        put_url,
        data=b"\x00\x01\x02",
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=10) as http:
        assert http.status == 200
    assert client.stat_object("support-basic", "presigned.bin").size == 3


def test_moto_multipart_round_trip(moto: S3Endpoint) -> None:
    client = moto.client()
    client.make_bucket("support-multipart")
    data = os.urandom(6 * 1024 * 1024)  # more than one 5 MiB part
    client.put_object(
        "support-multipart",
        "big.bin",
        io.BytesIO(data),
        length=len(data),
        part_size=5 * 1024 * 1024,
    )
    stat = client.stat_object("support-multipart", "big.bin")
    assert stat.size == len(data)
    assert stat.etag.endswith("-2")  # really uploaded as two parts
    response = client.get_object("support-multipart", "big.bin")
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()


def test_s3_endpoint_from_env(monkeypatch: pytest.MonkeyPatch, moto: S3Endpoint) -> None:
    monkeypatch.setenv(S3_ENDPOINT_ENV, moto.url)
    monkeypatch.setenv(S3_ACCESS_KEY_ENV, "someone")
    monkeypatch.setenv(S3_SECRET_KEY_ENV, "something")
    with s3_endpoint() as endpoint:
        assert endpoint == S3Endpoint(moto.endpoint, False, "someone", "something")
        endpoint.client().make_bucket("support-env")  # moto takes any credentials
        assert moto.client().bucket_exists("support-env")


def test_moto_server_stops() -> None:
    with moto_s3_server() as endpoint:
        host, port = endpoint.endpoint.rsplit(":", 1)
        assert port_open(host, int(port))
    assert not port_open(host, int(port))
