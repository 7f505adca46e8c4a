"""Registry-held files over the HTTP side port: GetArtifactDownloadUrls'
signed URLs on `--http-listen` (registry_server/http/files.py), through the
public client against real server processes.

The client takes them when the store cannot presign (the folder store) and,
with `prefer_presigned=False`, instead of the store's own URLs; it checks
the sha256 as on every other path, resumes a broken transfer with
DownloadArtifact, and a URL is good for its file, its lifetime and what its
caller may still read, nothing else.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.artifacts import file_tree
from support.auth import client_for
from support.net import free_port
from support.s3 import S3Endpoint
from support.server_process import ServerProcess, server_process

from registry_client import ChecksumMismatch, RegistryClient
from registry_client.artifacts import download
from registry_server.http.files import default_base

ADMIN_SECRET = "side-port-admin-" + "x" * 32


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}", headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _with_query(url: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class Server:
    def __init__(self, process: ServerProcess, http_port: int, artifacts: Path | None) -> None:
        self.process = process
        self.http_port = http_port
        self.artifacts = artifacts

    @property
    def target(self) -> str:
        return self.process.target


@contextmanager
def _side_port_server(root: Path, store: str, **env: str) -> Iterator[Server]:
    """A server process on SQLite under `root` with its side port on loopback;
    `env` adds settings."""
    port = free_port()
    with server_process(
        f"sqlite:///{root / 'registry.db'}",
        store,
        env={"REGISTRY_HTTP_LISTEN": f"127.0.0.1:{port}", **env},
    ) as process:
        folder = Path(store) if "://" not in store else None
        yield Server(process, port, folder)


@pytest.fixture(scope="module")
def folder_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The embedded folder store (it cannot presign) with a side port."""
    root = tmp_path_factory.mktemp("side-port-folder")
    with _side_port_server(root, str(root / "artifacts")) as server:
        yield server


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory, s3: S3Endpoint) -> Iterator[Server]:
    """An S3 store (it presigns) with a side port."""
    root = tmp_path_factory.mktemp("side-port-s3")
    secure = "true" if s3.secure else "false"
    store = f"s3://side-port-{uuid.uuid4().hex[:8]}?endpoint={s3.endpoint}&secure={secure}"
    with _side_port_server(root, store) as server:
        yield server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Authentication required, an admin token to set things up with."""
    root = tmp_path_factory.mktemp("side-port-auth")
    with _side_port_server(
        root,
        str(root / "artifacts"),
        REGISTRY_REQUIRE_AUTH="true",
        REGISTRY_BOOTSTRAP_ADMIN_TOKEN=ADMIN_SECRET,
    ) as server:
        yield server


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every side-port URL the client fetches, with the byte it starts at."""
    seen: list[tuple[str, int]] = []
    real = download._fetch_registry_url

    def spy(url: str, sink: Any) -> None:
        seen.append((url, sink.position))
        real(url, sink)

    monkeypatch.setattr(download, "_fetch_registry_url", spy)
    return seen


def _logged(target: str, src: Path, secret: str | None = None) -> tuple[RegistryClient, str]:
    client = client_for(target, secret) if secret else RegistryClient(target, timeout=60)
    name = f"side-port-{uuid.uuid4().hex[:10]}"
    client.create_registered_model(name)
    client.log_model_version(name, src)
    return client, name


def _object(server: Server, src: Path, path: str) -> Path:
    """Where the folder store keeps `path` of the version logged from `src`
    (`<model-id>/1/<path>`; each test's `src` has bytes of its own)."""
    assert server.artifacts is not None
    data = (src / path).read_bytes()
    (found,) = [p for p in server.artifacts.glob(f"*/1/{path}") if p.read_bytes() == data]
    return found


def test_a_folder_store_hands_out_side_port_urls_and_the_client_downloads_through_them(
    folder_server: Server, src: Path, tmp_path: Path, fetches: list[tuple[str, int]]
) -> None:
    client, name = _logged(folder_server.target, src)
    offered = client.get_artifact_download_urls(name, 1)
    assert offered.supported and offered.from_registry
    assert all(
        u.url.startswith(f"http://127.0.0.1:{folder_server.http_port}/artifacts/")
        for u in offered.urls
    )

    result = client.download_artifacts(f"models:/{name}/1", tmp_path / "out")

    assert file_tree(tmp_path / "out") == file_tree(src)
    fetched = [urllib.parse.unquote(u.split("?")[0].rsplit("/1/", 1)[1]) for u, _ in fetches]
    assert sorted(fetched) == sorted(result.downloaded)


def test_prefer_presigned_false_takes_the_side_port_instead_of_the_stores_urls(
    s3_server: Server, src: Path, tmp_path: Path, fetches: list[tuple[str, int]]
) -> None:
    client, name = _logged(s3_server.target, src)
    store_urls = client.get_artifact_download_urls(name, 1)
    assert store_urls.supported and not store_urls.from_registry
    side = f"http://127.0.0.1:{s3_server.http_port}/artifacts/"
    assert not any(u.url.startswith(side) for u in store_urls.urls)

    uri = f"models:/{name}/1"
    client.download_artifacts(uri, tmp_path / "via-registry", prefer_presigned=False)

    assert file_tree(tmp_path / "via-registry") == file_tree(src)
    assert fetches and all(url.startswith(side) for url, _ in fetches)


def test_a_changed_object_fails_verification_over_the_side_port(
    folder_server: Server, src: Path, tmp_path: Path, fetches: list[tuple[str, int]]
) -> None:
    client, name = _logged(folder_server.target, src)
    stored = _object(folder_server, src, "weights/model.bin")
    size = stored.stat().st_size
    stored.write_bytes(b"\0" * size)  # same size, other bytes

    with pytest.raises(ChecksumMismatch):
        client.download_artifacts(f"models:/{name}/1/weights/model.bin", tmp_path / "out")

    assert any("model.bin" in url for url, _ in fetches)
    assert not (tmp_path / "out" / "weights" / "model.bin").exists()
    assert not [p for p in (tmp_path / "out").rglob("*.part")]


def test_a_url_is_refused_with_a_wrong_signature_another_file_or_after_it_expires(
    folder_server: Server, src: Path
) -> None:
    client, name = _logged(folder_server.target, src)
    url = client.get_artifact_download_urls(name, 1, ["README"], expires_in_seconds=2).urls[0].url
    assert _get(url)[0] == 200

    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    signature = query["s"]
    forged = _with_query(url, s=("A" if signature[0] != "A" else "B") + signature[1:])
    assert _get(forged)[0] == 403
    other_file = url.replace("/README?", "/conf/params.json?")
    assert _get(other_file)[0] == 403
    longer = _with_query(url, e=str(int(time.time()) + 3600))
    assert _get(longer)[0] == 403
    as_admin = _with_query(url, p="someone-else")
    assert _get(as_admin)[0] == 403
    unsigned = url.split("?")[0]
    assert _get(unsigned)[0] == 403

    # Valid through the second it names (1 to 2 s from now): wait just past it.
    time.sleep(max(0.0, int(query["e"]) - time.time()) + 0.05)
    status, _, body = _get(url)
    assert status == 403 and b"expired" in body


def test_a_url_reads_as_its_caller_whose_access_is_checked_again_at_download(
    auth_server: Server, src: Path
) -> None:
    admin, name = _logged(auth_server.target, src, ADMIN_SECRET)
    principal = f"reader-{uuid.uuid4().hex[:6]}"
    token = admin.create_access_token(principal, "none")
    admin.set_model_grant(name, principal, "reader")
    reader = client_for(auth_server.target, token.secret)
    url = reader.get_artifact_download_urls(name, 1, ["README"]).urls[0].url
    assert _get(url)[:3:2] == (200, (src / "README").read_bytes())

    admin.delete_model_grant(name, principal)

    status, _, body = _get(url)
    assert status == 404 and name.encode() in body  # as for a model that does not exist


def test_a_range_request_gets_the_rest_of_the_file(folder_server: Server, src: Path) -> None:
    client, name = _logged(folder_server.target, src)
    url = client.get_artifact_download_urls(name, 1, ["weights/model.bin"]).urls[0].url
    data = (src / "weights" / "model.bin").read_bytes()

    status, headers, body = _get(url, {"Range": "bytes=1000-"})
    assert status == 206 and body == data[1000:]
    assert headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    assert headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()

    assert _get(url, {"Range": f"bytes={len(data)}-"})[0] == 416
    assert _get(url, {"Range": f"bytes={len(data) + 5}-"})[0] == 416
    status, _, body = _get(url, {"Range": "bytes=0-99"})  # not supported: the whole file
    assert status == 200 and body == data


def test_a_side_port_transfer_that_breaks_is_finished_by_the_stream_from_where_it_stopped(
    folder_server: Server,
    src: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, name = _logged(folder_server.target, src)
    real = download._fetch_registry_url
    streamed_from: list[int] = []
    real_stream = download.stream_file

    class Breaking:
        """The sink, until 1 MiB has arrived: then the connection "resets"."""

        def __init__(self, sink: Any) -> None:
            self.sink = sink

        @property
        def position(self) -> int:
            return int(self.sink.position)

        def write(self, data: bytes) -> None:
            if self.sink.position >= 1 << 20:
                raise ConnectionResetError("reset by the test")
            self.sink.write(data)

    def breaking(url: str, sink: Any) -> None:
        real(url, Breaking(sink))

    def stream(*args: Any, **kwargs: Any) -> Any:
        streamed_from.append(args[4].position)
        return real_stream(*args, **kwargs)

    monkeypatch.setattr(download, "_fetch_registry_url", breaking)
    monkeypatch.setattr(download, "stream_file", stream)

    client.download_artifacts(f"models:/{name}/1/weights/model.bin", tmp_path / "out")

    assert (tmp_path / "out" / "weights" / "model.bin").read_bytes() == (
        src / "weights" / "model.bin"
    ).read_bytes()
    assert streamed_from and streamed_from[0] >= 1 << 20
    assert "streaming the rest" in caplog.text


def test_without_a_side_port_from_registry_is_not_supported_and_downloads_stream(
    client: RegistryClient, logged: Any, model_name: str, src: Path, tmp_path: Path
) -> None:
    offered = client.get_artifact_download_urls(model_name, 1, from_registry=True)
    assert not offered.supported and not offered.urls and not offered.from_registry

    client.download_artifacts(f"models:/{model_name}/1", tmp_path / "out", prefer_presigned=False)
    assert file_tree(tmp_path / "out") == file_tree(src)


@pytest.mark.slow
def test_every_process_of_serve_processes_accepts_the_urls_any_of_them_signed(
    tmp_path: Path, src: Path
) -> None:
    port = free_port()
    with server_process(
        f"sqlite:///{tmp_path / 'registry.db'}",
        str(tmp_path / "artifacts"),
        processes=2,
        log_level="INFO",
        env={"REGISTRY_HTTP_LISTEN": f"127.0.0.1:{port}"},
    ) as process:
        client, name = _logged(process.target, src)
        urls = []
        for _ in range(6):  # new connections: the kernel spreads them over both
            fresh = RegistryClient(process.target, timeout=60)
            urls.append(fresh.get_artifact_download_urls(name, 1, ["README"]).urls[0].url)
            fresh.close()
        statuses = [_get(url)[0] for url in urls for _ in range(4)]
        client.close()
    assert statuses == [200] * len(statuses)


@pytest.mark.parametrize(
    ("http_listen", "grpc_listen", "base"),
    [
        ("127.0.0.1:9090", "127.0.0.1:50051", "http://127.0.0.1:9090"),
        ("[::1]:9090", "[::1]:50051", "http://[::1]:9090"),
        ("10.0.0.5:9090", "0.0.0.0:50051", "http://10.0.0.5:9090"),
        ("0.0.0.0:9090", "0.0.0.0:50051", None),
        ("[::]:9090", "127.0.0.1:50051", None),
        # Remote clients would be sent to their own machine.
        ("127.0.0.1:9090", "0.0.0.0:50051", None),
    ],
)
def test_the_side_ports_default_address_is_one_the_grpc_clients_can_reach(
    http_listen: str, grpc_listen: str, base: str | None
) -> None:
    assert default_base(http_listen, 9090, grpc_listen) == base
