"""`registry-server verify`: the files of READY versions re-read from the artifact
store and compared with their manifests. Each test gets a registry of its own
(a fresh database and an empty store), on the embedded default (SQLite + folder)
and on PostgreSQL + S3, because verify looks at the whole store: the shared
test servers hold every other test's leftovers. Files are changed behind the
registry's back through the server's own store object, the way an operator's
mistake or a bad disk would change them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.local_server import start_local
from support.net import free_port
from support.postgres import temporary_database
from support.s3 import S3Endpoint
from support.verify import run_verify, s3_url

from registry_client import AlreadyExists, RegistryClient
from registry_server import migrate
from registry_server.artifacts.base import CHUNK_SIZE, ArtifactStore, StoredObject
from registry_server.cli import build_parser
from registry_server.domain.verify import Verifier
from registry_server.server import RunningServer
from registry_server.store.database import make_engine
from registry_server.verify_cli import parse_since

# Reads every stored file back, on both backends: the full run, not the fast lane.
pytestmark = pytest.mark.slow


class Fresh:
    """A registry of its own: the server, a client, and the flags that name its
    database and store for `registry-server verify`."""

    def __init__(self, server: RunningServer, database_url: str, artifact_store: str) -> None:
        self.server = server
        self.database_url = database_url
        self.artifact_store = artifact_store
        self.client = RegistryClient(f"127.0.0.1:{server.port}", actor="verify-test")

    @property
    def store(self) -> ArtifactStore:
        return self.server.store

    def log(self, name: str, files: dict[str, bytes], tmp_path: Path) -> tuple[int, str]:
        """Log ``files`` as the next version of ``name``; (version, its key folder)."""
        folder = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}"
        for path, data in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(data)
        with contextlib.suppress(AlreadyExists):
            self.client.create_registered_model(name)
        before = set(self.store.list_keys())
        version = self.client.log_model_version(name, folder).version
        new = sorted(set(self.store.list_keys()) - before)
        return version, "/".join(new[0].split("/")[:2])

    def verify(self, *args: str) -> tuple[int, str, str]:
        return run_verify(
            "--database-url", self.database_url, "--artifact-store", self.artifact_store, *args
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fresh]:
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'registry.db'}"
        store = str(tmp_path / "artifacts")
        server = start_local(database_url, store, workers=4)
        try:
            yield Fresh(server, database_url, store)
        finally:
            server.stop(grace=1)
        return
    pg_server_url: str = request.getfixturevalue("pg_server_url")
    s3: S3Endpoint = request.getfixturevalue("s3")
    store = s3_url(s3, "registry-verify", f"run-{uuid.uuid4().hex[:8]}")
    with temporary_database(pg_server_url, prefix="registry_verify") as database_url:
        engine = make_engine(database_url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        server = start_local(database_url, store, workers=4)
        try:
            yield Fresh(server, database_url, store)
        finally:
            server.stop(grace=1)


FILES = {
    "model.bin": os.urandom(CHUNK_SIZE * 2 + 5),  # several chunks
    "conf/params.json": b'{"depth": 6}',
    "empty.txt": b"",
}


def _same_size_other_bytes(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:]


def test_a_clean_registry_verifies_with_exit_0(fresh: Fresh, tmp_path: Path) -> None:
    fresh.log("clean", FILES, tmp_path)
    fresh.log("clean", {"only.bin": b"second version"}, tmp_path)
    code, out, err = fresh.verify()
    assert code == 0, out + err
    assert "ok: every file matches its manifest" in out
    assert "checked 4 file(s)" in out and "of 2 READY version(s)" in out
    code, out, _ = fresh.verify("--output", "json", "--workers", "1")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True
    assert report["checked"] == {
        "versions": 2,
        "files": 4,
        "bytes": sum(map(len, FILES.values())) + len(b"second version"),
    }
    assert report["missing"] == report["changed"] == report["unexpected"] == []
    assert report["unreadable"] == []


def test_missing_changed_and_unexpected_objects_are_reported_with_exit_1(
    fresh: Fresh, tmp_path: Path
) -> None:
    _, folder = fresh.log("tampered", FILES, tmp_path)
    fresh.store.delete_key(f"{folder}/conf/params.json")
    fresh.store.put_stream(
        f"{folder}/model.bin", iter([_same_size_other_bytes(FILES["model.bin"])])
    )
    fresh.store.put_stream(f"{folder}/extra.bin", iter([b"nobody's"]))
    fresh.store.put_stream("999999/1/orphan.bin", iter([b"a crashed upload"]))

    code, out, err = fresh.verify("--output", "json")
    assert code == 1, err
    report = json.loads(out)
    assert report["ok"] is False
    assert set(report) == {
        "ok",
        "store",
        "checked",
        "missing",
        "changed",
        "unreadable",
        "unexpected",
    }
    assert report["checked"]["versions"] == 1 and report["checked"]["files"] == 3
    assert report["missing"] == [
        {
            "model": "tampered",
            "version": 1,
            "path": "conf/params.json",
            "key": f"{folder}/conf/params.json",
            "expected_size": len(FILES["conf/params.json"]),
            "expected_sha256": _sha(FILES["conf/params.json"]),
        }
    ]
    changed_bytes = _same_size_other_bytes(FILES["model.bin"])
    assert report["changed"] == [
        {
            "model": "tampered",
            "version": 1,
            "path": "model.bin",
            "key": f"{folder}/model.bin",
            "expected_size": len(FILES["model.bin"]),
            "expected_sha256": _sha(FILES["model.bin"]),
            "size": len(changed_bytes),  # the same size: only the hash can tell
            "sha256": _sha(changed_bytes),
        }
    ]
    assert report["unexpected"] == [{"key": f"{folder}/extra.bin"}, {"key": "999999/1/orphan.bin"}]

    code, out, _ = fresh.verify()
    assert code == 1
    assert f"missing     models:/tampered/1 conf/params.json ({folder}/conf/params.json)" in out
    assert f"changed     models:/tampered/1 model.bin ({folder}/model.bin): sha256 " in out
    assert "size " not in out.split("changed", 1)[1].splitlines()[0]
    assert f"unexpected  {folder}/extra.bin" in out
    assert "problems: 1 missing, 1 changed, 0 unreadable, 2 unexpected" in out


def test_a_file_cut_short_is_changed_in_size(fresh: Fresh, tmp_path: Path) -> None:
    _, folder = fresh.log("short", {"w.bin": b"0123456789"}, tmp_path)
    fresh.store.put_stream(f"{folder}/w.bin", iter([b"01234"]))
    code, out, _ = fresh.verify()
    assert code == 1
    assert f"({folder}/w.bin): size 5, expected 10; sha256 " in out


def test_files_of_a_pending_version_are_not_unexpected(fresh: Fresh, tmp_path: Path) -> None:
    fresh.log("pending", {"a.bin": b"ready"}, tmp_path)
    version = fresh.client.create_model_version("pending", registry_held_artifacts=True).version
    source = tmp_path / "half.bin"
    source.write_bytes(b"uploaded, not finalized")
    fresh.client.upload_artifact("pending", version, source)
    code, out, err = fresh.verify()
    assert code == 0, out + err
    assert "of 1 READY version(s)" in out


def test_model_filter_checks_only_that_models_versions_and_objects(
    fresh: Fresh, tmp_path: Path
) -> None:
    _, good = fresh.log("good", {"a.bin": b"aaaa"}, tmp_path)
    _, bad = fresh.log("bad", {"b.bin": b"bbbb"}, tmp_path)
    fresh.store.delete_key(f"{bad}/b.bin")
    fresh.store.put_stream("999999/1/orphan.bin", iter([b"outside every model"]))

    code, out, err = fresh.verify("--model", "good", "--output", "json")
    assert code == 0, out + err
    assert json.loads(out)["checked"]["versions"] == 1
    code, out, _ = fresh.verify("--model", "bad", "--output", "json")
    assert code == 1
    report = json.loads(out)
    assert [f["key"] for f in report["missing"]] == [f"{bad}/b.bin"]
    assert report["unexpected"] == []  # the orphan is outside the model's folder
    fresh.store.put_stream(f"{good}/stray.bin", iter([b"in good's folder"]))
    code, out, _ = fresh.verify("--model", "good", "--model", "bad", "--output", "json")
    report = json.loads(out)
    assert code == 1 and report["checked"]["versions"] == 2
    assert report["unexpected"] == [{"key": f"{good}/stray.bin"}]


def test_since_checks_only_versions_created_since_then(fresh: Fresh, tmp_path: Path) -> None:
    _, old = fresh.log("timed", {"a.bin": b"old"}, tmp_path)
    fresh.store.delete_key(f"{old}/a.bin")
    time.sleep(0.01)
    since_ms = time.time_ns() // 1_000_000
    time.sleep(0.01)
    fresh.log("timed", {"a.bin": b"new"}, tmp_path)

    code, out, err = fresh.verify("--since", str(since_ms), "--output", "json")
    assert code == 0, out + err
    assert json.loads(out)["checked"]["versions"] == 1
    iso = datetime.fromtimestamp(since_ms / 1000, UTC).isoformat()
    code, out, _ = fresh.verify("--since", iso, "--output", "json")
    assert code == 0 and json.loads(out)["checked"]["versions"] == 1
    code, out, _ = fresh.verify("--since", "2000-01-01", "--output", "json")
    assert code == 1 and json.loads(out)["checked"]["versions"] == 2
    assert [f["key"] for f in json.loads(out)["missing"]] == [f"{old}/a.bin"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    store = str(tmp_path / "artifacts")
    flags = ["--database-url", f"sqlite:///{tmp_path / 'r.db'}", "--artifact-store", store]
    for bad in (
        ["--since", "last tuesday"],
        ["--workers", "0"],
        ["--workers", "33"],
        ["--workers", "many"],
        ["--output", "xml"],
        ["--no-such-flag"],
    ):
        code, _, err = run_verify(*flags, *bad)
        assert code == 2, bad
        assert "usage: registry-server" in err
    code, _, err = run_verify(*flags, "--model", "no-such-model")
    assert code == 2
    assert "no model named 'no-such-model'" in err
    code, out, _ = run_verify(*flags)
    assert code == 0  # an empty registry is a clean one
    assert "checked 0 file(s)" in out


def test_since_takes_iso_8601_or_epoch_milliseconds() -> None:
    assert parse_since("1767225600000") == 1_767_225_600_000
    assert parse_since("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert parse_since("2026-01-01") == 1_767_225_600_000  # no zone: UTC
    assert parse_since("2026-01-01T01:00:00+01:00") == 1_767_225_600_000


class _CountingStore:
    """The real store, counting the files read at once and the largest chunk."""

    def __init__(self, inner: ArtifactStore) -> None:
        self.inner = inner
        self.max_key_bytes = inner.max_key_bytes
        self.open = 0
        self.most_open = 0
        self.largest_chunk = 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        return self.inner.put_stream(key, chunks)

    def open_stream(self, key: str, offset: int = 0) -> Iterator[bytes]:
        with self.lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            for chunk in self.inner.open_stream(key, offset):
                self.largest_chunk = max(self.largest_chunk, len(chunk))
                time.sleep(0.002)  # long enough for the other workers to overlap
                yield chunk
        finally:
            with self.lock:
                self.open -= 1


def test_files_are_streamed_in_chunks_by_at_most_workers_threads(
    fresh: Fresh, tmp_path: Path
) -> None:
    files = {f"part-{i}.bin": os.urandom(CHUNK_SIZE + i) for i in range(8)}
    fresh.log("streamed", files, tmp_path)
    counting = _CountingStore(fresh.store)
    report = Verifier(fresh.server.database, counting).verify(workers=3)  # type: ignore[arg-type]
    assert report.ok and report.files == 8
    assert 1 < counting.most_open <= 3
    assert counting.largest_chunk <= CHUNK_SIZE


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_help_examples_parse() -> None:
    code, out, _ = run_verify("--help")
    assert code == 0
    examples = out.split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    commands = examples.replace("\\\n", " ").splitlines()
    assert len(commands) == 5
    parser = build_parser()
    for line in commands:
        argv = shlex.split(line.split("#", 1)[0].split(">", 1)[0])
        assert argv[:2] == ["registry-server", "verify"]
        assert parser.parse_args(argv[1:]).command == "verify"


class _FailingStore(_CountingStore):
    """Reading one key fails the way a store that refuses it would."""

    def __init__(self, inner: ArtifactStore, failing: str) -> None:
        super().__init__(inner)
        self.failing = failing

    def open_stream(self, key: str, offset: int = 0) -> Iterator[bytes]:
        if key == self.failing:
            raise PermissionError(f"access denied to {key}")
        return super().open_stream(key, offset)


def test_a_file_that_cannot_be_read_is_unreadable_and_the_others_still_checked(
    fresh: Fresh, tmp_path: Path
) -> None:
    _, folder = fresh.log("guarded", {"a.bin": b"aaaa", "b.bin": b"bbbb"}, tmp_path)
    failing = _FailingStore(fresh.store, f"{folder}/a.bin")
    report = Verifier(fresh.server.database, failing).verify()  # type: ignore[arg-type]
    assert not report.ok and report.files == 2
    assert report.missing == report.changed == [] and report.unexpected == []
    [finding] = report.unreadable
    assert finding.key == f"{folder}/a.bin"
    assert finding.as_dict()["error"] == f"PermissionError: access denied to {folder}/a.bin"


def test_an_unreachable_store_exits_1_with_the_reason(tmp_path: Path) -> None:
    dead = f"s3://models?endpoint=127.0.0.1:{free_port()}&secure=false"
    code, out, err = run_verify(
        "--database-url", f"sqlite:///{tmp_path / 'r.db'}", "--artifact-store", dead
    )
    assert code == 1
    assert out == ""
    assert "the artifact store is unavailable" in err


def test_a_database_behind_the_schema_exits_1_and_says_to_upgrade(
    empty_pg_database: str, tmp_path: Path
) -> None:
    code, out, err = run_verify(
        "--database-url", empty_pg_database, "--artifact-store", str(tmp_path / "artifacts")
    )
    assert code == 1 and out == ""
    assert "registry-server db upgrade" in err
