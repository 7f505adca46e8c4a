"""Crash consistency: `registry-server serve` killed with SIGKILL in the middle of uploads and
promotions on PostgreSQL and S3 (moto), then restarted on the same database and bucket.

Six threads upload small random folders with ``log_model_version`` and eight create versions,
promote them to Staging or Production (archiving the others) and move an alias, for a random
1-3 s; then the server is killed without warning. After the restart the test checks that:

* every version a client was told about exists with what it was told (source, tags, READY and
  the uploaded files, downloaded with the client's checksum verification);
* `registry-server verify` finds no READY version with a missing, changed or unreadable file;
* version numbers per model are 1..N without gaps, and no model has two Production versions;
* `registry-server gc --dry-run --pending-older-than 0` lists exactly the versions the kill left
  PENDING_REGISTRATION (their uploader can neither finalize nor abort them) and exactly the
  objects verify calls unexpected, changing nothing; `gc` with the same age then marks those
  versions FAILED_REGISTRATION and removes their files and the unexpected objects, and verify
  afterwards reports nothing at all.

Age 0 is right here only because no client is left after the restart: in production the age
must exceed the longest upload (default 24h).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import s3_store_url
from support.postgres import temporary_database
from support.s3 import S3Endpoint, moto_s3_server
from support.server_process import server_process

from registry_client import RegistryClient, RegistryError
from registry_server import migrate
from registry_server.store.database import make_engine

pytestmark = pytest.mark.slow

UPLOADERS = 6
WRITERS = 8
ITERATIONS = 3
UPLOAD_MODELS = 2
WRITE_MODELS = 4
ALIAS = "champion"
#: Calls fail fast once the server is gone: one attempt, a short deadline.
CALL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Upload:
    model: str
    version: int
    manifest: dict[str, tuple[int, str]]  # path -> (size, sha256)


@dataclass(frozen=True)
class Created:
    model: str
    version: int
    source: str
    tags: dict[str, str]


@dataclass
class Ledger:
    """What the clients were told, and what they tried (acknowledged or not)."""

    uploads: list[Upload] = field(default_factory=list)
    created: list[Created] = field(default_factory=list)
    #: (model, version) an alias move was attempted for, acknowledged or not.
    alias_attempts: set[tuple[str, int]] = field(default_factory=set)
    #: (model, version) a Production transition was attempted for.
    production_attempts: set[tuple[str, int]] = field(default_factory=set)
    production_acks: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    acknowledged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, ok: bool) -> None:
        with self.lock:
            self.calls += 1
            self.acknowledged += ok


def _random_folder(root: Path, rng: random.Random) -> dict[str, tuple[int, str]]:
    root.mkdir(parents=True)
    manifest = {}
    for i in range(rng.randint(1, 3)):
        path = f"part-{i}.bin" if i % 2 == 0 else f"sub/part-{i}.bin"
        data = rng.randbytes(rng.randint(1, 32 * 1024))
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        manifest[path] = (len(data), hashlib.sha256(data).hexdigest())
    return manifest


def _uploader(
    target: str, models: list[str], ledger: Ledger, stop: threading.Event, work: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with RegistryClient(target, timeout=CALL_TIMEOUT, max_attempts=1) as client:
        n = 0
        while not stop.is_set():
            n += 1
            model = rng.choice(models)
            manifest = _random_folder(work / f"{seed}-{n}", rng)
            try:
                version = client.log_model_version(model, work / f"{seed}-{n}", max_workers=2)
            except RegistryError:
                ledger.call(False)
                time.sleep(0.05)
                continue
            ledger.call(True)
            assert version.status == "READY"
            with ledger.lock:
                ledger.uploads.append(Upload(model, version.version, manifest))


def _writer(
    target: str, models: list[str], ledger: Ledger, stop: threading.Event, seed: int
) -> None:
    rng = random.Random(seed)
    with RegistryClient(target, timeout=CALL_TIMEOUT, max_attempts=1) as client:
        while not stop.is_set():
            model = rng.choice(models)
            source = f"s3://elsewhere/{uuid.uuid4().hex}"
            tags = {"writer": str(seed), "n": str(rng.randint(0, 10**6))}
            try:
                version = client.create_model_version(model, source=source, tags=tags).version
            except RegistryError:
                ledger.call(False)
                time.sleep(0.05)
                continue
            ledger.call(True)
            with ledger.lock:
                ledger.created.append(Created(model, version, source, tags))
            stage = rng.choice(("Staging", "Production"))
            if stage == "Production":
                with ledger.lock:
                    ledger.production_attempts.add((model, version))
            try:
                client.transition_model_version_stage(
                    model, version, stage, archive_existing_versions=True
                )
                ledger.call(True)
                if stage == "Production":
                    with ledger.lock:
                        ledger.production_acks[model] += 1
            except RegistryError:
                ledger.call(False)
                continue
            with ledger.lock:
                ledger.alias_attempts.add((model, version))
            try:
                client.set_registered_model_alias(model, ALIAS, version)
                ledger.call(True)
            except RegistryError:
                ledger.call(False)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry_server.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _verify(env: dict[str, str], database: str, store: str) -> dict:
    done = _cli(
        env, "verify", "--database-url", database, "--artifact-store", store, "--output", "json"
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] == (done.returncode == 0)
    return report


@dataclass(frozen=True)
class Collected:
    """What one `registry-server gc` run listed: pending versions it failed (or would), and
    orphaned objects it removed (or would)."""

    failed: set[tuple[str, int]]
    orphans: list[str]


_FAILED_LINE = re.compile(r"(?:would mark|marked) failed models:/(.+)/(\d+) \(")


def _gc(env: dict[str, str], database: str, store: str, *flags: str) -> Collected:
    done = _cli(
        env,
        "gc",
        "--database-url",
        database,
        "--artifact-store",
        store,
        "--pending-older-than",
        "0",
        *flags,
    )
    assert done.returncode == 0, done.stderr
    mark, remove = ("would mark", "would remove") if flags else ("marked", "removed")
    *body, marked, removed = done.stdout.splitlines()
    failed = {(m[1], int(m[2])) for m in map(_FAILED_LINE.match, body) if m}
    orphans = [line.removeprefix(f"{remove} ") for line in body if line.startswith(f"{remove} ")]
    assert marked.startswith(f"{mark} {len(failed)} abandoned pending"), done.stdout
    assert removed.startswith(f"{remove} {len(orphans)} orphaned object(s)"), done.stdout
    assert len(body) == len(failed) + len(orphans), done.stdout  # none left alone
    return Collected(failed, orphans)


def _all_versions(client: RegistryClient, model: str) -> list:
    found, token = [], None
    while True:
        page = client.search_model_versions(f"name = '{model}'", max_results=100, page_token=token)
        found.extend(page.items)
        token = page.token
        if not token:
            return found


@pytest.fixture
def crash_database(pg_server_url: str) -> Iterator[str]:
    with temporary_database(pg_server_url, prefix="registry_crash") as url:
        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def _environment(endpoint: S3Endpoint) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["AWS_ACCESS_KEY_ID"] = endpoint.access_key
    env["AWS_SECRET_ACCESS_KEY"] = endpoint.secret_key
    return env


def test_sigkill_during_uploads_and_promotions_loses_nothing_acknowledged(
    crash_database: str, tmp_path: Path
) -> None:
    rng = random.Random()
    tag = uuid.uuid4().hex[:8]
    upload_models = [f"crash-up-{tag}-{i}" for i in range(UPLOAD_MODELS)]
    write_models = [f"crash-wr-{tag}-{i}" for i in range(WRITE_MODELS)]
    ledger = Ledger()
    figures = Counter[str]()
    with moto_s3_server() as endpoint:
        env = _environment(endpoint)
        store = s3_store_url(endpoint, "crash")
        for iteration in range(ITERATIONS):
            log = tmp_path / f"server-{iteration}.log"
            with server_process(crash_database, store, log, env=env) as server:
                if iteration == 0:
                    with RegistryClient(server.target) as client:
                        for name in upload_models + write_models:
                            client.create_registered_model(name)
                stop = threading.Event()
                work = tmp_path / f"folders-{iteration}"
                threads = [
                    threading.Thread(
                        target=_uploader,
                        args=(
                            server.target,
                            upload_models,
                            ledger,
                            stop,
                            work,
                            100 * i + iteration,
                        ),
                    )
                    for i in range(UPLOADERS)
                ] + [
                    threading.Thread(
                        target=_writer,
                        args=(
                            server.target,
                            write_models,
                            ledger,
                            stop,
                            1000 + 100 * i + iteration,
                        ),
                    )
                    for i in range(WRITERS)
                ]
                for thread in threads:
                    thread.start()
                time.sleep(rng.uniform(1.0, 3.0))
                server.process.send_signal(signal.SIGKILL)
                server.process.wait(timeout=10)
                stop.set()
                for thread in threads:
                    thread.join(timeout=30)
                    assert not thread.is_alive()
            figures["iterations"] += 1
            with server_process(
                crash_database, store, tmp_path / f"after-{iteration}.log", env=env
            ) as server:
                with RegistryClient(server.target) as client:
                    pending = _check(client, ledger, upload_models, write_models, tmp_path)
                figures["stuck pending"] += len(pending)
                before = _verify(env, crash_database, store)
                assert not before["missing"] and not before["changed"], before
                assert not before["unreadable"], before
                would = _gc(env, crash_database, store, "--dry-run")
                assert would.failed == set(pending)
                assert sorted(would.orphans) == sorted(u["key"] for u in before["unexpected"])
                with RegistryClient(server.target) as client:
                    for model, version in pending:  # the dry run changed nothing
                        found = client.get_model_version(model, version)
                        assert found.status == "PENDING_REGISTRATION"
                removed = _gc(env, crash_database, store)
                assert removed.failed == set(pending)
                assert sorted(removed.orphans) == sorted(would.orphans)
                figures["orphans removed"] += len(removed.orphans)
                with RegistryClient(server.target) as client:
                    for model, version in pending:
                        failed = client.get_model_version(model, version)
                        assert failed.status == "FAILED_REGISTRATION", failed
                        assert "registry-server gc" in failed.status_message
                after = _verify(env, crash_database, store)
                assert after["ok"], after
                figures["READY versions verified"] = after["checked"]["versions"]
    print(
        f"crash consistency: {figures['iterations']} SIGKILL iterations, {ledger.calls} calls "
        f"({ledger.acknowledged} acknowledged), {len(ledger.uploads)} uploads and "
        f"{len(ledger.created)} created versions acknowledged and all found; "
        f"{figures['stuck pending']} stuck PENDING_REGISTRATION failed by gc, "
        f"{figures['orphans removed']} orphan object(s) removed by gc, "
        f"{figures['READY versions verified']} READY versions verified at the end"
    )
    assert figures["iterations"] == ITERATIONS
    assert ledger.acknowledged > 0


def _check(
    client: RegistryClient,
    ledger: Ledger,
    upload_models: list[str],
    write_models: list[str],
    tmp_path: Path,
) -> list[tuple[str, int]]:
    """Every check that runs through the client; returns the stuck pending versions."""
    for upload in ledger.uploads:
        found = client.get_model_version(upload.model, upload.version)
        assert found.status == "READY", found
        destination = tmp_path / "downloads" / upload.model / str(upload.version)
        downloaded = client.download_artifacts(
            f"models:/{upload.model}/{upload.version}", destination
        )
        got = {f.path: (f.size, f.sha256) for f in downloaded.files}
        assert got == upload.manifest, (upload, got)
    for created in ledger.created:
        found = client.get_model_version(created.model, created.version)
        assert found.source == created.source, (created, found)
        assert dict(found.tags) == created.tags, (created, found)
        assert found.status == "READY", found
    pending = []
    for model in upload_models + write_models:
        versions = _all_versions(client, model)
        numbers = sorted(v.version for v in versions)
        assert numbers == list(range(1, len(numbers) + 1)), (model, numbers)
        pending += [(model, v.version) for v in versions if v.status == "PENDING_REGISTRATION"]
        production = [v.version for v in versions if v.current_stage == "Production"]
        assert len(production) <= 1, (model, production)
        if ledger.production_acks[model]:
            assert len(production) == 1, (model, production)
        for number in production:
            assert (model, number) in ledger.production_attempts
        champion = [v.version for v in versions if ALIAS in v.aliases]
        assert len(champion) <= 1, (model, champion)
        for number in champion:
            assert (model, number) in ledger.alias_attempts
    return pending
