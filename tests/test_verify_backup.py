"""Backup and restore as docs/operations.md describes it: a `pg_dump` of the
database first, then a copy of the artifact store (an S3 prefix, or the local
folder), both taken while versions are being written; restored into a fresh
database and the copied files, the result passes `registry-server verify`.
Versions committed after the dump leave only unexpected objects (which
`registry-server gc` removes); in the wrong order, files first, a version
committed in between is reported missing, not silently broken."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from minio.commonconfig import CopySource
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from support.postgres import temporary_database
from support.s3 import S3Endpoint
from support.verify import run_verify, s3_url

from registry_client import RegistryClient
from registry_server import migrate
from registry_server.cli import main as server_main
from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start
from registry_server.store.database import make_engine

pytestmark = pytest.mark.slow

BUCKET = "registry-backup"


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Source:
    """The registry being backed up, and how to copy its store."""

    def __init__(
        self,
        server: RunningServer,
        database_url: str,
        store_url: str,
        copy: Callable[[str], str],
    ) -> None:
        self.server = server
        self.database_url = database_url
        self.store_url = store_url
        self.copy_store = copy  # (a name for the copy) -> the copy's store URL
        self.client = RegistryClient(f"127.0.0.1:{server.port}", actor="backup-test")

    def log(self, name: str, folder: Path, data: bytes) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.bin").write_bytes(data)
        (folder / "conf.json").write_bytes(b'{"n": %d}' % len(data))
        return self.client.log_model_version(name, folder).version


def _copy_s3(s3: S3Endpoint, prefix: str) -> Callable[[str], str]:
    def copy(name: str) -> str:
        client = s3.client()
        target = f"{prefix}-{name}"
        for obj in client.list_objects(BUCKET, prefix=f"{prefix}/", recursive=True):
            assert obj.object_name
            key = obj.object_name[len(prefix) + 1 :]
            client.copy_object(BUCKET, f"{target}/{key}", CopySource(BUCKET, obj.object_name))
        return s3_url(s3, BUCKET, target)

    return copy


def _copy_folder(root: Path) -> Callable[[str], str]:
    def copy(name: str) -> str:
        target = root.parent / f"{root.name}-{name}"
        # As `cp -a` would, with a store being written to: skip uploads in
        # flight (.upload-*, renamed into place when complete).
        shutil.copytree(root, target, ignore=shutil.ignore_patterns(".upload-*"))
        return str(target)

    return copy


@pytest.fixture(params=["s3", "folder"])
def source(request: pytest.FixtureRequest, pg_server_url: str, tmp_path: Path) -> Iterator[Source]:
    with temporary_database(pg_server_url, prefix="registry_backup") as database_url:
        engine = make_engine(database_url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        if request.param == "s3":
            s3: S3Endpoint = request.getfixturevalue("s3")
            prefix = f"run-{uuid.uuid4().hex[:8]}"
            store_url, copy = s3_url(s3, BUCKET, prefix), _copy_s3(s3, prefix)
        else:
            root = tmp_path / "artifacts"
            store_url, copy = str(root), _copy_folder(root)
        server = start(
            ServerConfig(
                database_url=database_url,
                artifact_store=store_url,
                listen="127.0.0.1:0",
                workers=4,
            )
        )
        try:
            yield Source(server, database_url, store_url, copy)
        finally:
            server.stop(grace=1)


class Writer:
    """Logs versions of model "busy" until stopped: the writes that go on
    while the backup is taken."""

    def __init__(self, source: Source, folder: Path) -> None:
        source.client.create_registered_model("busy")
        self.source, self.folder = source, folder
        self.logged = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.source.log("busy", self.folder / str(self.logged), os.urandom(4096))
            self.logged += 1

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def _dump(database_url: str, path: Path) -> None:
    subprocess.run(
        [_pg_binary("pg_dump"), "--format=custom", "--file", str(path), _libpq(database_url)],
        check=True,
        timeout=120,
    )


def _restore(path: Path, database_url: str) -> None:
    subprocess.run(
        [
            _pg_binary("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            _libpq(database_url),
            str(path),
        ],
        check=True,
        timeout=120,
    )


def _query(database_url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _verify_json(database_url: str, store_url: str) -> tuple[int, dict]:
    code, out, err = run_verify(
        "--database-url", database_url, "--artifact-store", store_url, "--output", "json"
    )
    assert code in (0, 1), err
    return code, json.loads(out)


def test_a_backup_taken_database_first_while_writes_go_on_restores_and_verifies(
    source: Source, pg_server_url: str, tmp_path: Path
) -> None:
    source.client.create_registered_model("kept")
    for i in range(3):
        source.log("kept", tmp_path / f"kept-{i}", os.urandom(100_000 + i))
    dump = tmp_path / "registry.dump"
    with Writer(source, tmp_path / "busy") as writer:
        _dump(source.database_url, dump)  # 1. the database
        after_dump = source.log("kept", tmp_path / "after", b"committed after the dump")
        copy_url = source.copy_store("backup")  # 2. then the files
    assert writer.logged > 0

    with temporary_database(pg_server_url, prefix="registry_restored") as restored:
        _restore(dump, restored)
        ready = set(
            _query(restored, "SELECT model_id, version FROM model_versions WHERE status = 'READY'")
        )
        [(kept_id,)] = _query(restored, "SELECT id FROM registered_models WHERE name = 'kept'")
        code, report = _verify_json(restored, copy_url)
        # Every version the dump knows has all its files, unchanged...
        assert report["missing"] == report["changed"] == report["unreadable"] == []
        assert report["checked"]["versions"] >= 3
        # ...and what the copy holds beyond it is only files of later versions
        # (or of uploads the dump saw pending, before their file was reserved).
        unexpected = [u["key"] for u in report["unexpected"]]
        assert {f"{kept_id}/{after_dump}/model.bin", f"{kept_id}/{after_dump}/conf.json"} <= set(
            unexpected
        )
        for key in unexpected:
            model_id, version, _ = key.split("/", 2)
            assert (int(model_id), int(version)) not in ready, key
        assert code == 1

        # gc removes them, before the restored registry takes new versions
        # (they would reuse those version numbers); then all is well.
        assert server_main(["gc", "--database-url", restored, "--artifact-store", copy_url]) == 0
        code, report = _verify_json(restored, copy_url)
        assert code == 0, report
        assert report["ok"] is True


def test_files_copied_before_the_dump_leave_later_versions_missing_and_verify_says_so(
    source: Source, pg_server_url: str, tmp_path: Path
) -> None:
    source.client.create_registered_model("wrong-order")
    source.log("wrong-order", tmp_path / "v1", b"copied")
    copy_url = source.copy_store("files-first")  # the wrong order: files...
    late = source.log("wrong-order", tmp_path / "v2", b"committed between the two")
    dump = tmp_path / "registry.dump"
    _dump(source.database_url, dump)  # ...then the database

    with temporary_database(pg_server_url, prefix="registry_restored") as restored:
        _restore(dump, restored)
        code, report = _verify_json(restored, copy_url)
        assert code == 1
        assert {(m["model"], m["version"]) for m in report["missing"]} == {("wrong-order", late)}
        assert sorted(m["path"] for m in report["missing"]) == ["conf.json", "model.bin"]
        assert report["changed"] == report["unexpected"] == []
