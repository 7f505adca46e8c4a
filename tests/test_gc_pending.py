"""`registry-server gc` and abandoned pending versions, on SQLite + folder and on PostgreSQL +
S3: a version left PENDING_REGISTRATION (its uploader died) and idle for the pending age is
listed by `gc --dry-run` without any change, and marked FAILED_REGISTRATION by `gc`, with its
event in the history and its objects gone; READY versions, fresh pending versions and versions
that change while gc decides are left alone.

Each backend gets its own server, database and store (gc with a small age would otherwise fail
other modules' pending versions), started with a clock the tests set back to make a version
old, instead of waiting for it to age. The PostgreSQL run is in the slow lane (its own database
costs a few seconds); the SQLite run is in the fast lane.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BACKENDS, s3_store_url
from support.postgres import temporary_database

from registry_client import ArtifactFile, RegistryClient
from registry_server import migrate
from registry_server.cli import main as server_main
from registry_server.config import ServerConfig
from registry_server.domain.clock import now_ms
from registry_server.domain.gc import GC_ACTOR, GarbageCollector, describe_age
from registry_server.gc_cli import parse_duration
from registry_server.server import RunningServer, start
from registry_server.store import integrity
from registry_server.store.database import make_engine

HOUR_MS = 3600 * 1000
OWNER = "gc-test-owner"


class MovableClock:
    """The wall clock, shifted by an offset the test sets."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return now_ms() + self.offset_ms

    @contextmanager
    def shifted(self, offset_ms: int) -> Iterator[None]:
        saved, self.offset_ms = self.offset_ms, offset_ms
        try:
            yield
        finally:
            self.offset_ms = saved


@dataclass
class Registry:
    server: RunningServer
    client: RegistryClient
    clock: MovableClock
    database_url: str
    store_url: str

    def gc(self, *flags: str) -> int:
        return server_main(
            ["gc", "--database-url", self.database_url, "--artifact-store", self.store_url, *flags]
        )

    def keys(self, name: str, version: int) -> set[str]:
        with self.server.database.read() as conn:
            model_id = integrity.model_ids(conn, [name])[name]
        return set(self.server.store.list_keys(f"{model_id}/{version}/"))


@contextmanager
def _serving(database_url: str, store_url: str) -> Iterator[Registry]:
    clock = MovableClock()
    config = ServerConfig(
        database_url=database_url, artifact_store=store_url, listen="127.0.0.1:0", workers=4
    )
    server = start(config, clock=clock)
    try:
        with RegistryClient(f"127.0.0.1:{server.port}", actor=OWNER) as client:
            yield Registry(server, client, clock, database_url, store_url)
    finally:
        server.stop(grace=1)


# The PostgreSQL run costs a database of its own (a few seconds): full suite only.
_BACKENDS = [pytest.param(b, marks=pytest.mark.slow) if b == "postgresql" else b for b in BACKENDS]


@pytest.fixture(scope="module", params=_BACKENDS)
def gc_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("gc-pending")
        with _serving(f"sqlite:///{folder / 'registry.db'}", str(folder / "artifacts")) as reg:
            yield reg
        return
    pg_server_url = request.getfixturevalue("pg_server_url")
    endpoint = request.getfixturevalue("s3")
    with temporary_database(pg_server_url, prefix="registry_gc") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        with _serving(url, s3_store_url(endpoint, f"gc-{uuid.uuid4().hex[:8]}")) as reg:
            yield reg


@pytest.fixture
def name(gc_registry: Registry) -> str:
    """A new model, made three days ago: a version is never older than its model's last
    change (store/models.py), so the versions the tests date back need an older model."""
    name = f"gc-{uuid.uuid4().hex[:8]}"
    with gc_registry.clock.shifted(-72 * HOUR_MS):
        gc_registry.client.create_registered_model(name)
    return name


def _pending(reg: Registry, name: str, tmp_path: Path, files: dict[str, bytes]) -> int:
    """A registry-held version with ``files`` uploaded and never finalized."""
    version = reg.client.create_model_version(name, registry_held_artifacts=True).version
    for path, data in files.items():
        local = tmp_path / uuid.uuid4().hex
        local.write_bytes(data)
        reg.client.upload_artifact(name, version, local, path)
    return version


def _ready(reg: Registry, name: str, tmp_path: Path) -> int:
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"ready weights")
    return reg.client.log_model_version(name, folder).version


def _gc_events(reg: Registry, name: str) -> list:
    page = reg.client.list_model_events(name, kinds=["version_status_changed"], actor=GC_ACTOR)
    return list(page.events)


@dataclass
class Scene:
    """v1 READY and v2, v3 pending, all two days old; v4 pending and fresh; an orphan."""

    ready: int
    old_with_file: int
    old_empty: int
    fresh: int
    orphan: str


def _scene(reg: Registry, name: str, tmp_path: Path) -> Scene:
    with reg.clock.shifted(-48 * HOUR_MS):
        ready = _ready(reg, name, tmp_path)
        old_with_file = _pending(reg, name, tmp_path, {"weights/part.bin": b"half a model"})
        old_empty = _pending(reg, name, tmp_path, {})
    fresh = _pending(reg, name, tmp_path, {"part.bin": b"uploading right now"})
    orphan = f"999{uuid.uuid4().int % 10**6}/1/orphan.bin"
    reg.server.store.put_stream(orphan, iter([b"left by a crash"]))
    return Scene(ready, old_with_file, old_empty, fresh, orphan)


def _status(reg: Registry, name: str, version: int) -> str:
    return reg.client.get_model_version(name, version).status


def test_dry_run_lists_abandoned_pending_versions_and_changes_nothing(
    gc_registry: Registry, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = gc_registry
    scene = _scene(reg, name, tmp_path)
    stored_before = reg.keys(name, scene.old_with_file)
    assert len(stored_before) == 1

    assert reg.gc("--dry-run") == 0  # the default age, 24h
    out = capsys.readouterr().out.splitlines()

    listed = [line for line in out if f"models:/{name}/" in line]
    assert listed == [
        f"would mark failed models:/{name}/{scene.old_with_file} (idle 2d 0h, "
        f"created by {OWNER}, 1 file(s))",
        f"would mark failed models:/{name}/{scene.old_empty} (idle 2d 0h, "
        f"created by {OWNER}, 0 file(s))",
    ]
    assert f"would remove {scene.orphan}" in out
    assert out[-2].startswith("would mark ") and out[-2].endswith("(idle for 1d 0h or more)")
    assert out[-1].startswith("would remove ") and "orphaned object(s) from" in out[-1]
    # Nothing changed: statuses, objects, history.
    for version in (scene.old_with_file, scene.old_empty, scene.fresh):
        assert _status(reg, name, version) == "PENDING_REGISTRATION"
    assert _status(reg, name, scene.ready) == "READY"
    assert reg.keys(name, scene.old_with_file) == stored_before
    assert scene.orphan in set(reg.server.store.list_keys())
    assert _gc_events(reg, name) == []


def test_gc_fails_abandoned_versions_with_an_event_and_removes_their_files(
    gc_registry: Registry,
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = gc_registry
    scene = _scene(reg, name, tmp_path)
    fresh_keys = reg.keys(name, scene.fresh)

    assert reg.gc() == 0
    out = capsys.readouterr().out.splitlines()
    assert f"marked failed models:/{name}/{scene.old_with_file} (idle 2d 0h, " in "\n".join(out)
    assert f"removed {scene.orphan}" in out

    for version in (scene.old_with_file, scene.old_empty):
        failed = reg.client.get_model_version(name, version)
        assert failed.status == "FAILED_REGISTRATION"
        assert "abandoned" in failed.status_message and GC_ACTOR in failed.status_message
        assert reg.keys(name, version) == set()
    events = _gc_events(reg, name)
    assert sorted(e.version for e in events) == [scene.old_with_file, scene.old_empty]
    for event in events:
        assert event.before == {"status": "PENDING_REGISTRATION"}
        assert event.after["status"] == "FAILED_REGISTRATION"
    assert scene.orphan not in set(reg.server.store.list_keys())
    # The READY version and the fresh pending one are untouched.
    assert _status(reg, name, scene.ready) == "READY"
    downloaded = reg.client.download_artifacts(f"models:/{name}/{scene.ready}", tmp_path / "dl")
    assert [f.path for f in downloaded.files] == ["model.bin"]
    assert _status(reg, name, scene.fresh) == "PENDING_REGISTRATION"
    assert reg.keys(name, scene.fresh) == fresh_keys
    # Numbers stay taken: the next version follows the failed ones.
    assert reg.client.create_model_version(name, source="s3://b/next").version == 5

    # Age 0 (here from the environment) takes every pending version, the fresh one too.
    monkeypatch.setenv("REGISTRY_GC_PENDING_AGE", "0")
    assert reg.gc() == 0
    assert f"marked failed models:/{name}/{scene.fresh} " in capsys.readouterr().out
    assert _status(reg, name, scene.fresh) == "FAILED_REGISTRATION"
    assert reg.keys(name, scene.fresh) == set()
    assert len(_gc_events(reg, name)) == 3


def test_an_upload_keeps_an_old_pending_version_alive(
    gc_registry: Registry, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Idle means no sign of life: a version created long ago whose newest file upload
    started an hour ago is an hour idle, not two days."""
    reg = gc_registry
    with reg.clock.shifted(-48 * HOUR_MS):
        version = _pending(reg, name, tmp_path, {"first.bin": b"one"})
    with reg.clock.shifted(-HOUR_MS):
        second = tmp_path / "second.bin"
        second.write_bytes(b"two")
        reg.client.upload_artifact(name, version, second, "second.bin")

    assert reg.gc("--pending-older-than", "2h") == 0
    assert f"models:/{name}/" not in capsys.readouterr().out
    assert _status(reg, name, version) == "PENDING_REGISTRATION"

    assert reg.gc("--pending-older-than", "30m") == 0
    out = capsys.readouterr().out
    assert f"marked failed models:/{name}/{version} (idle 1h 0m, " in out
    assert "2 file(s)" in out
    assert _status(reg, name, version) == "FAILED_REGISTRATION"


def test_a_version_that_changes_after_the_listing_is_left_alone(
    gc_registry: Registry, name: str, tmp_path: Path
) -> None:
    """Between gc's listing and its change, a version may be finalized, aborted, deleted or
    given a new upload; the change, made under the model's lock, then leaves it as it is."""
    reg, client = gc_registry, gc_registry.client
    with reg.clock.shifted(-48 * HOUR_MS):
        finalized = _pending(reg, name, tmp_path, {"a.bin": b"a"})
        uploading = _pending(reg, name, tmp_path, {})
        aborted = _pending(reg, name, tmp_path, {})
        deleted = _pending(reg, name, tmp_path, {})
    collector = GarbageCollector(reg.server.database, reg.server.store, clock=reg.clock)
    idle_since = reg.clock() - HOUR_MS
    listed = {v.version: v for v in collector.abandoned(idle_since) if v.model == name}
    assert sorted(listed) == [finalized, uploading, aborted, deleted]

    manifest = [ArtifactFile(path="a.bin", size=1, sha256=hashlib.sha256(b"a").hexdigest())]
    client.finalize_model_version(name, finalized, manifest)
    local = tmp_path / "late.bin"
    local.write_bytes(b"late")
    client.upload_artifact(name, uploading, local, "late.bin")
    client.abort_model_version(name, aborted, "given up by its owner")
    client.delete_model_version(name, deleted)

    for version in (finalized, uploading, aborted, deleted):
        assert not collector.fail(listed[version], idle_since, HOUR_MS), version
    assert _status(reg, name, finalized) == "READY"
    assert _status(reg, name, uploading) == "PENDING_REGISTRATION"
    assert len(reg.keys(name, uploading)) == 1
    assert client.get_model_version(name, aborted).status_message == "given up by its owner"
    assert _gc_events(reg, name) == []


def test_durations_and_bad_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = ["--database-url", f"sqlite:///{tmp_path / 'unused.db'}"]
    assert [parse_duration(t) for t in ("0", "90", "90s", "30m", "1.5h", "7d", " 24H ")] == [
        0,
        90_000,
        90_000,
        1_800_000,
        5_400_000,
        604_800_000,
        86_400_000,
    ]
    for bad in ("", "-1", "soon", "1w", "h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert [describe_age(ms) for ms in (0, 7_000, 366_000, 11_040_000, 93_600_000)] == [
        "0s",
        "7s",
        "6m 6s",
        "3h 4m",
        "1d 2h",
    ]
    with pytest.raises(SystemExit) as exited:
        server_main(["gc", *nowhere, "--pending-older-than", "soon"])
    assert exited.value.code == 2
    assert "expected a duration like 24h" in capsys.readouterr().err
    monkeypatch.setenv("REGISTRY_GC_PENDING_AGE", "a while")
    assert server_main(["gc", *nowhere, "--dry-run"]) == 2
    assert "$REGISTRY_GC_PENDING_AGE" in capsys.readouterr().err
