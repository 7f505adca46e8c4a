"""Registry-held artifacts through the public client and the `registry` CLI.

Round trips (log_model_version -> download_artifacts) on both backends: the
embedded folder store (no presigning) and S3 (presigned URLs), plus the
client's own promises: skipping files already present, replacing wrong ones,
never leaving a wrong or temporary file behind, aborting a failed upload,
resuming interrupted transfers.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

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
from registry_client.artifacts import download, upload
from registry_client.cli import _progress, main

MiB = 1024 * 1024


# --------------------------------------------------------------------------- helpers


def _make_model_dir(root: Path) -> Path:
    """Nested folders, an empty file, a 3 MiB random file (several chunks)."""
    src = root / "model-out"
    (src / "weights" / "shards").mkdir(parents=True)
    (src / "conf").mkdir()
    (src / "weights" / "model.bin").write_bytes(os.urandom(3 * MiB + 17))
    (src / "weights" / "shards" / "part-0").write_bytes(os.urandom(1000))
    (src / "conf" / "params.json").write_text('{"depth": 6}')
    (src / "empty.txt").write_bytes(b"")
    (src / "README").write_text("fraud model\n")
    return src


def _tree(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def _mtimes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def _entry(path: str, data: bytes) -> ArtifactFile:
    return ArtifactFile(path, len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return _make_model_dir(tmp_path)


@pytest.fixture
def logged(client: RegistryClient, model_name: str, src: Path) -> Any:
    client.create_registered_model(model_name)
    return client.log_model_version(model_name, src, run_id="run-1")


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


class _Broken(grpc.RpcError):
    """What a dropped connection looks like to the client."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection dropped (test)"


@pytest.fixture
def own_client(target: str) -> Iterator[RegistryClient]:
    """A client of its own, whose stub a test may tamper with; retries are instant."""
    with RegistryClient(target, actor="test-suite") as c:
        c._sleep = lambda _seconds: None
        yield c


# --------------------------------------------------------------------------- upload


def test_log_model_version_registers_a_ready_version_with_the_manifest(
    client: RegistryClient, model_name: str, src: Path, logged: Any
) -> None:
    mv = logged
    assert mv.status == "READY"
    assert mv.registry_held_artifacts
    assert mv.source == f"models:/{model_name}/{mv.version}"
    assert mv.run_id == "run-1"
    expected = [
        _entry(p, data)
        for p, data in sorted(_tree(src).items())  # includes the empty file
    ]
    assert compute_manifest(src) == expected
    assert client.list_artifacts(model_name, mv.version) == expected
    listing = client.list_artifacts_with_version(f"models:/{model_name}/latest")
    assert isinstance(listing, ArtifactListing)
    assert listing.model_version.version == mv.version
    assert list(listing.files) == expected
    assert client.get_model_version(model_name, mv.version).registry_held_artifacts


def test_progress_reaches_the_total(client: RegistryClient, model_name: str, src: Path) -> None:
    client.create_registered_model(model_name)
    seen: list[tuple[int, int]] = []
    client.log_model_version(
        model_name, src, max_workers=2, progress=lambda d, t: seen.append((d, t))
    )
    total = sum(len(b) for b in _tree(src).values())
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_failed_upload_aborts_the_version(
    client: RegistryClient, model_name: str, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.create_registered_model(model_name)
    real = upload.upload_file

    def failing(c: Any, name: str, version: int, local_path: Any, path: str, **kw: Any) -> Any:
        if path == "weights/model.bin":
            raise RuntimeError("disk on fire")
        return real(c, name, version, local_path, path, **kw)

    monkeypatch.setattr(upload, "upload_file", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        client.log_model_version(model_name, src)
    mv = client.get_model_version(model_name, 1)
    assert mv.status == "FAILED_REGISTRATION"
    assert "disk on fire" in mv.status_message
    assert client.list_artifacts(model_name, 1) == []


def _bytes_read_by_this_process() -> int:
    """read()/pread() bytes of every thread of this process (Linux's rchar).
    Socket traffic goes through recvmsg/recv and is not counted."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


def test_log_model_version_reads_each_file_once(
    client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    # The manifest comes from the upload's own hashing, not from a pass over
    # the folder before it: for a model of several GB on an uncached disk a
    # second read doubled the time before anything was sent.
    folder = tmp_path / "big"
    folder.mkdir()
    size = 48 * MiB
    with open(folder / "model.bin", "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    client.create_registered_model(model_name)
    before = _bytes_read_by_this_process()
    mv = client.log_model_version(model_name, folder)
    read = _bytes_read_by_this_process() - before
    assert mv.status == "READY"
    assert client.list_artifacts(model_name, mv.version) == compute_manifest(folder)
    assert size <= read < 1.5 * size, f"{read / MiB:.1f} MiB read for a {size // MiB} MiB file"


def test_a_file_that_changes_while_it_uploads_aborts_the_version(
    client: RegistryClient, model_name: str, src: Path
) -> None:
    client.create_registered_model(model_name)
    target = src / "weights" / "model.bin"
    grown: list[int] = []

    def append_once(done: int, total: int) -> None:
        if done and not grown:  # the first chunk is out: the file grows behind it
            with open(target, "ab") as f:
                grown.append(f.write(b"late bytes"))

    with pytest.raises(ChecksumMismatch, match="changed while it was uploading") as info:
        client.log_model_version(model_name, src, max_workers=1, progress=append_once)
    assert grown and info.value.path == "weights/model.bin"
    mv = client.get_model_version(model_name, 1)
    assert mv.status == "FAILED_REGISTRATION"
    assert "changed while it was uploading" in mv.status_message
    assert client.list_artifacts(model_name, 1) == []


def test_an_unreadable_folder_creates_nothing(
    client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    client.create_registered_model(model_name)
    with pytest.raises(NotADirectoryError):
        client.log_model_version(model_name, tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "back\\slash").write_text("x")
    with pytest.raises(ValueError, match="backslash"):
        client.log_model_version(model_name, bad)
    assert client.get_registered_model(model_name).last_version == 0


def test_idempotent_replay_resumes_a_pending_version_and_returns_a_ready_one(
    client: RegistryClient, model_name: str, src: Path
) -> None:
    client.create_registered_model(model_name)
    # A run that crashed after creating the version and uploading one file.
    pending = client.create_model_version(
        model_name, idempotency_key="build-7", registry_held_artifacts=True
    )
    assert pending.status == "PENDING_REGISTRATION"
    client.upload_artifact(model_name, pending.version, src / "README")
    # The re-run skips README (uploading it again would be refused) and finishes.
    mv = client.log_model_version(model_name, src, idempotency_key="build-7")
    assert (mv.version, mv.status) == (pending.version, "READY")
    assert client.list_artifacts(model_name, mv.version) == compute_manifest(src)
    # Another re-run finds it READY and returns it untouched.
    again = client.log_model_version(model_name, src, idempotency_key="build-7")
    assert (again.version, again.status) == (mv.version, "READY")
    assert client.get_registered_model(model_name).last_version == mv.version


def test_replay_of_an_aborted_version_is_refused(
    client: RegistryClient, model_name: str, src: Path
) -> None:
    client.create_registered_model(model_name)
    mv = client.create_model_version(model_name, idempotency_key="k", registry_held_artifacts=True)
    aborted = client.abort_model_version(model_name, mv.version, reason="bad data")
    assert (aborted.status, aborted.status_message) == ("FAILED_REGISTRATION", "bad data")
    with pytest.raises(FailedPrecondition, match="new key"):
        client.log_model_version(model_name, src, idempotency_key="k")


def test_upload_and_finalize_step_by_step(
    client: RegistryClient, model_name: str, src: Path
) -> None:
    client.create_registered_model(model_name)
    mv = client.create_model_version(model_name, registry_held_artifacts=True)
    stored = client.upload_artifact(
        model_name, mv.version, src / "conf" / "params.json", path="conf/params.json"
    )
    assert stored == _entry("conf/params.json", (src / "conf" / "params.json").read_bytes())
    # Default path: the file name.
    assert client.upload_artifact(model_name, mv.version, src / "README").path == "README"
    with pytest.raises(FailedPrecondition, match="not uploaded"):
        client.finalize_model_version(model_name, mv.version, compute_manifest(src))
    ready = client.finalize_model_version(
        model_name, mv.version, client.list_artifacts(model_name, mv.version)
    )
    assert ready.status == "READY"
    with pytest.raises(FailedPrecondition):
        client.upload_artifact(model_name, mv.version, src / "empty.txt")


def test_upload_is_resent_whole_after_a_dropped_stream(
    own_client: RegistryClient, model_name: str, src: Path
) -> None:
    c = own_client
    c.create_registered_model(model_name)
    mv = c.create_model_version(model_name, registry_held_artifacts=True)
    real = c._stub.UploadArtifact
    attempts: list[int] = []

    class Flaky:
        def __call__(self, requests: Iterator[Any], **kw: Any) -> Any:
            attempts.append(1)
            if len(attempts) == 1:
                next(requests), next(requests)  # header and one chunk, then the line drops
                raise _Broken()
            return real(requests, **kw)

        def future(self, requests: Iterator[Any], **kw: Any) -> Any:  # pragma: no cover
            raise AssertionError("not used without a cancel scope")

    c._stub.UploadArtifact = Flaky()
    stored = c.upload_artifact(model_name, mv.version, src / "weights" / "model.bin", path="m")
    assert len(attempts) == 2
    assert stored == _entry("m", (src / "weights" / "model.bin").read_bytes())


def test_upload_whose_response_was_lost_is_found_on_the_server(
    own_client: RegistryClient, model_name: str, src: Path
) -> None:
    c = own_client
    c.create_registered_model(model_name)
    mv = c.create_model_version(model_name, registry_held_artifacts=True)
    real = c._stub.UploadArtifact
    attempts: list[int] = []

    def lossy(requests: Iterator[Any], **kw: Any) -> Any:
        attempts.append(1)
        response = real(requests, **kw)
        if len(attempts) == 1:
            raise _Broken()  # stored, but the answer never arrived
        return response

    c._stub.UploadArtifact = lossy
    stored = c.upload_artifact(model_name, mv.version, src / "README")
    assert len(attempts) == 2  # the resend was refused (path taken)...
    assert stored == _entry("README", (src / "README").read_bytes())  # ...and found


@pytest.fixture(params=["inline", "background"])
def writes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Downloads write and hash each chunk as it arrives (small files), or in a
    writer thread of their own (large files; every file here, with the
    threshold at 0)."""
    if request.param == "background":
        monkeypatch.setattr(download, "_BACKGROUND_MIN_BYTES", 0)
    return str(request.param)


# --------------------------------------------------------------------------- download


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
        assert _tree(dst) == _tree(src)
        assert sorted(result.downloaded) == sorted(_tree(src))
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
        assert sorted(u.file.path for u in urls.urls) == sorted(_tree(src))
        assert all(u.url.startswith("http") for u in urls.urls)
        one = client.get_artifact_download_urls(model_name, logged.version, paths=["README"])
        assert [u.file.path for u in one.urls] == ["README"]
    else:
        assert urls.urls == ()
    client.download_artifacts(f"models:/{model_name}/{logged.version}", tmp_path / "a")
    assert _tree(tmp_path / "a") == _tree(src)
    assert len(presigned_fetches) == (len(_tree(src)) if urls.supported else 0)


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
    assert _tree(tmp_path / "d") == _tree(src)
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
    assert _tree(tmp_path / "d") == _tree(src)
    warned = [r for r in caplog.records if "streaming it from the registry" in r.getMessage()]
    assert len(warned) == (len(_tree(src)) if supported else 0)


def test_second_download_skips_files_already_present(
    client: RegistryClient, model_name: str, src: Path, logged: Any, tmp_path: Path
) -> None:
    uri = f"models:/{model_name}/latest"
    dst = tmp_path / "d"
    client.download_artifacts(uri, dst)
    before = _mtimes(dst)
    time.sleep(0.05)
    result = client.download_artifacts(uri, dst)
    assert result.downloaded == ()
    assert sorted(result.skipped) == sorted(_tree(src))
    assert _mtimes(dst) == before


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
    tree = _tree(dst)
    assert tree.pop("unrelated.txt") == b"mine"  # files not in the model are left alone
    assert tree == _tree(src)


def test_uri_with_a_path_downloads_only_that_file_or_folder(
    client: RegistryClient, model_name: str, src: Path, logged: Any, tmp_path: Path
) -> None:
    result = client.download_artifacts(
        f"models:/{model_name}/{logged.version}/conf/params.json", tmp_path / "one"
    )
    assert [f.path for f in result.files] == ["conf/params.json"]
    assert _tree(tmp_path / "one") == {"conf/params.json": b'{"depth": 6}'}
    # A folder keeps the paths relative to the model root.
    client.download_artifacts(f"models:/{model_name}/latest/weights", tmp_path / "w")
    weights = {k: v for k, v in _tree(src).items() if k.startswith("weights/")}
    assert _tree(tmp_path / "w") == weights
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
    assert entry == _entry("weights/model.bin", data)
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
                raise _Broken()
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


# --------------------------------------------------------------------------- CLI

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(target: str, capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["--target", target, "--actor", "cli-test", *argv])
        stdout, stderr = capsys.readouterr()
        return code, stdout, stderr

    return _run


def test_cli_create_with_artifacts_and_download(
    run: Run, model_name: str, src: Path, tmp_path: Path
) -> None:
    assert run("models", "create", model_name)[0] == 0
    code, stdout, err = run(
        "--output", "json", "versions", "create", model_name, "--artifacts", str(src),
        "--run-id", "run-9", "--workers", "2",
    )  # fmt: skip
    assert code == 0, err
    assert err == ""  # no progress bar: stderr is not a terminal
    mv = json.loads(stdout)
    assert (mv["status"], mv["registry_held_artifacts"], mv["run_id"]) == ("READY", True, "run-9")
    dst = tmp_path / "dl"
    code, stdout, err = run("download", f"models:/{model_name}/latest", str(dst))
    assert code == 0, err
    assert f"models:/{model_name}/{mv['version']}" in stdout
    assert "weights/model.bin" in stdout
    assert _tree(dst) == _tree(src)
    code, stdout, err = run(
        "--output", "json", "download", f"models:/{model_name}/1", str(dst), "--no-presigned"
    )
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["downloaded"] == [] and len(doc["skipped"]) == len(_tree(src))


def test_cli_download_of_a_missing_model_exits_1(run: Run, model_name: str, tmp_path: Path) -> None:
    code, stdout, err = run("download", f"models:/{model_name}/1", str(tmp_path / "d"))
    assert code == 1
    assert stdout == ""
    assert err.startswith("error: NOT_FOUND: ")
    assert not (tmp_path / "d").exists()


def test_cli_missing_artifacts_folder_exits_1(run: Run, model_name: str, tmp_path: Path) -> None:
    run("models", "create", model_name)
    code, _, err = run("versions", "create", model_name, "--artifacts", str(tmp_path / "no"))
    assert code == 1
    assert err.startswith("error: ") and "not a directory" in err


def test_cli_step_by_step_upload_list_urls_finalize_abort(
    run: Run, client: RegistryClient, model_name: str, src: Path
) -> None:
    run("models", "create", model_name)
    # The CLI creates versions whole; a pending one comes from the Python API.
    version = str(client.create_model_version(model_name, registry_held_artifacts=True).version)
    for rel in _tree(src):
        code, stdout, err = run(
            "artifacts", "upload", model_name, version, str(src / rel), "--path", rel
        )
        assert code == 0, err
        assert repr(rel) in stdout
    code, stdout, err = run("--output", "json", "artifacts", "list", model_name, version)
    assert code == 0, err
    listing = json.loads(stdout)
    assert listing["model_version"]["status"] == "PENDING_REGISTRATION"
    assert [f["path"] for f in listing["files"]] == sorted(_tree(src))
    code, stdout, err = run(
        "versions", "finalize", model_name, version, "--manifest-from", str(src)
    )
    assert code == 0, err
    assert "READY" in stdout
    code, stdout, err = run("artifacts", "list", f"models:/{model_name}/{version}/conf")
    assert code == 0, err
    assert "conf/params.json" in stdout and "README" not in stdout
    code, stdout, err = run("--output", "json", "artifacts", "urls", model_name, version)
    assert code == 0, err
    urls = json.loads(stdout)
    assert len(urls["urls"]) == (len(_tree(src)) if urls["supported"] else 0)
    code, stdout, err = run("artifacts", "urls", model_name, version, "--path", "README")
    assert code == 0, err
    assert ("README" in stdout) if urls["supported"] else ("cannot presign" in stdout)

    other = str(client.create_model_version(model_name, registry_held_artifacts=True).version)
    code, stdout, err = run("versions", "abort", model_name, other, "--reason", "bad data")
    assert code == 0, err
    assert "FAILED_REGISTRATION (bad data)" in stdout
    code, _, err = run("versions", "finalize", model_name, other, "--manifest-from", str(src))
    assert code == 1
    assert err.startswith("error: FAILED_PRECONDITION: ")


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = _progress.ProgressBar(tty, "uploading")
    bar(0, 3 * MiB)
    bar(3 * MiB, 3 * MiB)
    bar.close()
    text = tty.getvalue()
    assert text.startswith("\ruploading [")
    assert "3.0 MiB / 3.0 MiB" in text
    assert text.endswith("\n")
    pipe = io.StringIO()
    bar = _progress.ProgressBar(pipe, "uploading")
    bar(1, 2)
    bar.close()
    assert pipe.getvalue() == ""


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
    assert len(expected) == len(_tree(src)) > 2
    pages = -(-len(listing.files) // 2)
    assert [token for _, token in requests[:2]] == ["", "2"]  # moved on the 2nd page...
    assert requests[2][1] == ""  # ...so the listing started over
    assert len(requests) == 2 + pages
