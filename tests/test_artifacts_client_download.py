"""Registry-held artifacts through the public client: downloading.

On both backends: the embedded folder store (no presigning) and S3 (presigned
URLs, with a fall-back to streaming from the registry). The client's promises:
byte-identical files, skipping files already present, replacing wrong ones,
never leaving a wrong or temporary file behind, resuming interrupted streams,
and a paged listing joined (and restarted should its URI move).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.artifacts import BrokenConnection, MiB, file_tree, manifest_entry, mtimes

from registry_client import (
    ArtifactFile,
    ArtifactListing,
    ChecksumMismatch,
    FailedPrecondition,
    Internal,
    NotFound,
    RegistryClient,
    RegistryError,
    compute_manifest,
)
from registry_client.artifacts import download


@pytest.fixture
def presigned_fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every presigned URL the client fetches."""
    fetched: list[str] = []
    real = download._fetch_url

    def spy(url: str, sink: Any) -> None:
        fetched.append(url)
        real(url, sink)

    monkeypatch.setattr(download, "_fetch_url", spy)
    return fetched


@pytest.fixture(params=["inline", "background"])
def writes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Downloads write and hash each chunk as it arrives (small files), or in a
    writer thread of their own (large files; every file here, with the
    threshold at 0)."""
    if request.param == "background":
        monkeypatch.setattr(download, "_BACKGROUND_MIN_BYTES", 0)
    return str(request.param)


def test_download_by_alias_and_latest_is_byte_identical(
    client: RegistryClient,
    model_name: str,
    src: Path,
    logged: Any,
    tmp_path: Path,
    writes: str,
) -> None:
    client.set_registered_model_alias(model_name, "champion", logged.version)
    for uri in (f"models:/{model_name}@champion", f"models:/{model_name}/latest"):
        dst = tmp_path / uri.rsplit("/", 1)[-1]
        result = client.download_artifacts(uri, dst)
        assert result.model_version.version == logged.version
        assert result.local_dir == str(dst)
        assert file_tree(dst) == file_tree(src)
        assert sorted(result.downloaded) == sorted(file_tree(src))
        assert result.skipped == ()
        assert list(result.files) == compute_manifest(src)
    # Downloaded files get the usual mode (umask), not a temporary file's 0600.
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    assert (dst / "README").stat().st_mode & 0o777 == probe.stat().st_mode & 0o777


def test_presigned_urls_are_used_when_the_store_offers_them(
    client: RegistryClient,
    model_name: str,
    src: Path,
    logged: Any,
    tmp_path: Path,
    presigned_fetches: list[str],
    writes: str,
) -> None:
    urls = client.get_artifact_download_urls(model_name, logged.version)
    if urls.supported:
        assert sorted(u.file.path for u in urls.urls) == sorted(file_tree(src))
        assert all(u.url.startswith("http") for u in urls.urls)
        one = client.get_artifact_download_urls(model_name, logged.version, paths=["README"])
        assert [u.file.path for u in one.urls] == ["README"]
    else:
        assert urls.urls == ()
    client.download_artifacts(f"models:/{model_name}/{logged.version}", tmp_path / "a")
    assert file_tree(tmp_path / "a") == file_tree(src)
    assert len(presigned_fetches) == (len(file_tree(src)) if urls.supported else 0)


def test_download_without_presigned_urls(
    client: RegistryClient,
    model_name: str,
    src: Path,
    logged: Any,
    tmp_path: Path,
    presigned_fetches: list[str],
    writes: str,
) -> None:
    client.download_artifacts(
        f"models:/{model_name}/latest", tmp_path / "d", prefer_presigned=False, max_workers=1
    )
    assert file_tree(tmp_path / "d") == file_tree(src)
    assert presigned_fetches == []


def test_a_failing_presigned_url_falls_back_to_streaming(
    client: RegistryClient,
    model_name: str,
    src: Path,
    logged: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    writes: str,
) -> None:
    def unreachable(url: str, sink: Any) -> None:
        sink.write(b"p"[: sink.limit])  # some bytes arrive, then the connection fails
        raise ConnectionResetError("reset by peer")

    monkeypatch.setattr(download, "_fetch_url", unreachable)
    supported = client.get_artifact_download_urls(model_name, logged.version).supported
    client.download_artifacts(f"models:/{model_name}/latest", tmp_path / "d")
    assert file_tree(tmp_path / "d") == file_tree(src)
    warned = [r for r in caplog.records if "streaming it from the registry" in r.getMessage()]
    assert len(warned) == (len(file_tree(src)) if supported else 0)


def test_second_download_skips_files_already_present(
    client: RegistryClient, model_name: str, src: Path, logged: Any, tmp_path: Path
) -> None:
    uri = f"models:/{model_name}/latest"
    dst = tmp_path / "d"
    client.download_artifacts(uri, dst)
    # Back-date every file (to 2001): one written again would carry the time of now.
    for path in dst.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(10**18, 10**18))
    before = mtimes(dst)
    result = client.download_artifacts(uri, dst)
    assert result.downloaded == ()
    assert sorted(result.skipped) == sorted(file_tree(src))
    assert mtimes(dst) == before


def test_a_wrong_file_in_the_destination_is_replaced(
    client: RegistryClient, model_name: str, src: Path, logged: Any, tmp_path: Path
) -> None:
    uri = f"models:/{model_name}/latest"
    dst = tmp_path / "d"
    client.download_artifacts(uri, dst)
    # Same size, different bytes: only the sha256 can tell.
    target = dst / "weights" / "shards" / "part-0"
    target.write_bytes(bytes(1000))
    (dst / "README").unlink()
    (dst / "unrelated.txt").write_text("mine")
    result = client.download_artifacts(uri, dst)
    assert sorted(result.downloaded) == ["README", "weights/shards/part-0"]
    tree = file_tree(dst)
    assert tree.pop("unrelated.txt") == b"mine"  # files not in the model are left alone
    assert tree == file_tree(src)


def test_uri_with_a_path_downloads_only_that_file_or_folder(
    client: RegistryClient, model_name: str, src: Path, logged: Any, tmp_path: Path
) -> None:
    result = client.download_artifacts(
        f"models:/{model_name}/{logged.version}/conf/params.json", tmp_path / "one"
    )
    assert [f.path for f in result.files] == ["conf/params.json"]
    assert file_tree(tmp_path / "one") == {"conf/params.json": b'{"depth": 6}'}
    # A folder keeps the paths relative to the model root.
    client.download_artifacts(f"models:/{model_name}/latest/weights", tmp_path / "w")
    weights = {k: v for k, v in file_tree(src).items() if k.startswith("weights/")}
    assert file_tree(tmp_path / "w") == weights
    with pytest.raises(NotFound):
        client.download_artifacts(f"models:/{model_name}/latest/nope", tmp_path / "x")


def test_a_pending_version_does_not_resolve(
    client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    client.create_registered_model(model_name)
    mv = client.create_model_version(model_name, registry_held_artifacts=True)
    with pytest.raises(NotFound):
        client.download_artifacts(f"models:/{model_name}/{mv.version}", tmp_path / "d")
    with pytest.raises(NotFound):
        client.download_artifacts(f"models:/{model_name}/latest", tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_a_version_with_external_files_has_nothing_to_download(
    client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://bucket/model")
    with pytest.raises(FailedPrecondition, match="s3://bucket/model"):
        client.download_artifacts(f"models:/{model_name}/1", tmp_path / "d")


def _tamper(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[ArtifactFile], ArtifactFile]
) -> None:
    """Make ListArtifacts report a manifest the stored bytes do not match."""
    real = RegistryClient.list_artifacts_with_version

    def tampered(self: RegistryClient, *args: Any) -> ArtifactListing:
        listing = real(self, *args)
        return ArtifactListing(listing.model_version, tuple(change(f) for f in listing.files))

    monkeypatch.setattr(RegistryClient, "list_artifacts_with_version", tampered)


@pytest.mark.parametrize("presigned", [True, False])
def test_a_checksum_mismatch_leaves_no_file_behind(
    client: RegistryClient,
    model_name: str,
    logged: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    presigned: bool,
    writes: str,
) -> None:
    def wrong_sha(f: ArtifactFile) -> ArtifactFile:
        return ArtifactFile(f.path, f.size, "0" * 64) if f.path == "weights/model.bin" else f

    _tamper(monkeypatch, wrong_sha)
    dst = tmp_path / "d"
    with pytest.raises(ChecksumMismatch) as info:
        client.download_artifacts(
            f"models:/{model_name}/latest", dst, prefer_presigned=presigned, max_workers=1
        )
    assert info.value.path == "weights/model.bin"
    assert info.value.code == grpc.StatusCode.DATA_LOSS
    assert not (dst / "weights" / "model.bin").exists()
    leftovers = [p for p in dst.rglob("*") if p.is_file() and p.name.endswith(".part")]
    assert leftovers == []


def test_unsafe_paths_from_the_server_are_refused(
    client: RegistryClient,
    model_name: str,
    logged: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _tamper(monkeypatch, lambda f: ArtifactFile("../escaped", f.size, f.sha256))
    dst = tmp_path / "inner" / "d"
    with pytest.raises(Internal, match="unsafe"):
        client.download_artifacts(f"models:/{model_name}/latest", dst)
    assert not (tmp_path / "inner" / "escaped").exists()
    assert not dst.exists()


def test_download_artifact_streams_from_an_offset(
    client: RegistryClient, model_name: str, src: Path, logged: Any
) -> None:
    data = (src / "weights" / "model.bin").read_bytes()
    buf = io.BytesIO()
    entry = client.download_artifact(model_name, logged.version, "weights/model.bin", buf)
    assert entry == manifest_entry("weights/model.bin", data)
    assert buf.getvalue() == data
    tail = io.BytesIO()
    client.download_artifact(model_name, logged.version, "weights/model.bin", tail, offset=MiB + 3)
    assert tail.getvalue() == data[MiB + 3 :]
    with pytest.raises(RegistryError) as past_the_end:
        client.download_artifact(
            model_name, logged.version, "weights/model.bin", io.BytesIO(), offset=len(data) + 1
        )
    assert past_the_end.value.code == grpc.StatusCode.OUT_OF_RANGE


def test_a_broken_download_stream_resumes_at_the_offset(
    own_client: RegistryClient,
    model_name: str,
    src: Path,
    tmp_path: Path,
    writes: str,
) -> None:
    c = own_client
    c.create_registered_model(model_name)
    mv = c.log_model_version(model_name, src)
    real = c._stub.DownloadArtifact
    offsets: list[int] = []

    class Breaking:
        """Passes on the first two messages of the first stream, then drops."""

        def __init__(self, inner: Any, limit: int | None) -> None:
            self.inner, self.limit = inner, limit

        def __iter__(self) -> Breaking:
            return self

        def __next__(self) -> Any:
            if self.limit == 0:
                raise BrokenConnection()
            if self.limit is not None:
                self.limit -= 1
            return next(self.inner)

        def cancel(self) -> bool:
            return self.inner.cancel()

    def flaky(request: Any, **kw: Any) -> Breaking:
        offsets.append(request.offset)
        return Breaking(real(request, **kw), 2 if len(offsets) == 1 else None)

    c._stub.DownloadArtifact = flaky
    data = (src / "weights" / "model.bin").read_bytes()
    buf = io.BytesIO()
    c.download_artifact(model_name, mv.version, "weights/model.bin", buf)
    assert buf.getvalue() == data
    assert offsets[0] == 0 and 0 < offsets[1] < len(data) and len(offsets) == 2
    # download_artifacts resumes the same way (streaming, one file at a time).
    offsets.clear()
    c.download_artifacts(
        f"models:/{model_name}/latest/weights/model.bin",
        tmp_path / "d",
        prefer_presigned=False,
    )
    assert (tmp_path / "d" / "weights" / "model.bin").read_bytes() == data
    assert len(offsets) == 2 and offsets[1] > 0


def test_a_background_write_error_reaches_the_caller() -> None:
    """A full disk in the writer thread fails the download: the next write or
    finish raises it, and what was written before is hashed in order."""

    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() >= 2 * MiB:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    chunks = [os.urandom(MiB) for _ in range(3)]
    fine = download._Sink(io.BytesIO(), limit=3 * MiB, background=True)
    for chunk in chunks:
        fine.write(chunk)
    fine.finish()
    assert fine.out.getvalue() == b"".join(chunks)  # type: ignore[attr-defined]
    assert fine.hash.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()

    full = download._Sink(Full(), limit=64 * MiB, background=True)
    with pytest.raises(OSError, match="No space left"):
        for _ in range(64):
            full.write(chunks[0])
        full.finish()
    full.abandon()  # idempotent after the failure


def test_a_listing_in_pages_is_joined_and_restarted_if_the_uri_moves(
    own_client: RegistryClient, model_name: str, src: Path
) -> None:
    """The server pages ListArtifacts; the client returns the whole listing,
    and, listed by URI, starts over should the URI resolve to another version
    between pages (here: the first attempt's second page)."""
    c = own_client
    c.create_registered_model(model_name)
    first = c.log_model_version(model_name, src)
    second = c.log_model_version(model_name, src)
    expected = c.list_artifacts(model_name, second.version)
    real = c._stub.ListArtifacts
    requests: list[tuple[str, str]] = []

    def paged(request: Any, **kw: Any) -> Any:
        requests.append((request.uri, request.page_token))
        whole = real(type(request)(uri=request.uri), **kw)
        start = int(request.page_token or 0)
        page = type(whole)(files=whole.files[start : start + 2])
        page.model_version.CopyFrom(whole.model_version)
        if len(requests) == 2:  # as if the alias moved: another version
            page.model_version.version = first.version
        if start + 2 < len(whole.files):
            page.next_page_token = str(start + 2)
        return page

    c._stub.ListArtifacts = paged
    listing = c.list_artifacts_with_version(f"models:/{model_name}/latest")
    assert listing.model_version.version == second.version
    assert list(listing.files) == expected
    assert len(expected) == len(file_tree(src)) > 2
    pages = -(-len(listing.files) // 2)
    assert [token for _, token in requests[:2]] == ["", "2"]  # moved on the 2nd page...
    assert requests[2][1] == ""  # ...so the listing started over
    assert len(requests) == 2 + pages
