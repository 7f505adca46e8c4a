"""Registry-held artifacts through the public client: uploading.

Round trips on both backends (the embedded folder store and S3) start here:
log_model_version registers a READY version with its manifest; a failed or
changing upload aborts the version; an idempotent replay resumes a pending one;
a dropped stream is resent whole. Downloads are in test_artifacts_client_download.py,
the `registry` CLI's artifact commands in test_artifacts_client_cli.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.artifacts import BrokenConnection, MiB, file_tree, manifest_entry

from registry_client import (
    ArtifactListing,
    ChecksumMismatch,
    FailedPrecondition,
    RegistryClient,
    compute_manifest,
)
from registry_client.artifacts import upload


def test_log_model_version_registers_a_ready_version_with_the_manifest(
    client: RegistryClient, model_name: str, src: Path, logged: Any
) -> None:
    mv = logged
    assert mv.status == "READY"
    assert mv.registry_held_artifacts
    assert mv.source == f"models:/{model_name}/{mv.version}"
    assert mv.run_id == "run-1"
    expected = [
        manifest_entry(p, data)
        for p, data in sorted(file_tree(src).items())  # includes the empty file
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
    total = sum(len(b) for b in file_tree(src).values())
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
    assert stored == manifest_entry("conf/params.json", (src / "conf" / "params.json").read_bytes())
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
                raise BrokenConnection()
            return real(requests, **kw)

        def future(self, requests: Iterator[Any], **kw: Any) -> Any:  # pragma: no cover
            raise AssertionError("not used without a cancel scope")

    c._stub.UploadArtifact = Flaky()
    stored = c.upload_artifact(model_name, mv.version, src / "weights" / "model.bin", path="m")
    assert len(attempts) == 2
    assert stored == manifest_entry("m", (src / "weights" / "model.bin").read_bytes())


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
            raise BrokenConnection()  # stored, but the answer never arrived
        return response

    c._stub.UploadArtifact = lossy
    stored = c.upload_artifact(model_name, mv.version, src / "README")
    assert len(attempts) == 2  # the resend was refused (path taken)...
    assert stored == manifest_entry("README", (src / "README").read_bytes())  # ...and found
