"""`registry import mlflow` against a real `mlflow server` (one per module) and our real
server with authentication on, on SQLite and PostgreSQL, through the command line.

The MLflow registry has what a real one has: deleted versions (gaps), stages, aliases,
tags, descriptions, run ids and links. The import keeps every version's number, so
`models:/<name>/<n>` names the same model after the move; it changes nothing when run
again, adds only what is new later, never rewrites a version that differs, and is for
global admins only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from support.auth import AuthServer
from support.mlflow_server import MlflowServer, mlflow_server

from registry_client import NotFound, PermissionDenied
from registry_client.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@dataclass
class Source:
    """One model in the MLflow registry, and how to add to it."""

    mlflow: MlflowClient
    name: str
    run_id: str
    source: str

    def add_version(self, i: int) -> Any:
        return self.mlflow.create_model_version(
            self.name,
            self.source,
            run_id=self.run_id,
            tags={"i": str(i), "team": "risk"},
            run_link=f"http://mlflow/runs/{i}",
            description=f"version {i}",
        )


def _populate(server: MlflowServer, stem: str) -> Source:
    """fraud-like model: versions 1..5 with 2 and 4 deleted; 1 in Production, 3 in
    Staging; @champion -> 3, @canary -> 5; model and version tags and descriptions."""
    mc = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
    name = f"{stem}-{uuid.uuid4().hex[:8]}"
    run = mc.create_run(mc.create_experiment(f"exp-{name}"))
    files = server.root / f"files-{name}"
    (files / "sub").mkdir(parents=True)
    (files / "MLmodel").write_text("flavors: {}\n")
    (files / "sub" / "weights.bin").write_bytes(b"\x00\x01weights" * 100)
    mc.log_artifacts(run.info.run_id, str(files), "model")
    source = Source(mc, name, run.info.run_id, f"{run.info.artifact_uri}/model")
    mc.create_registered_model(name, tags={"team": "risk"}, description="catches fraud")
    for i in range(1, 6):
        source.add_version(i)
    mc.delete_model_version(name, "2")
    mc.delete_model_version(name, "4")
    mc.transition_model_version_stage(name, "1", "Production")
    mc.transition_model_version_stage(name, "3", "Staging")
    mc.set_registered_model_alias(name, "champion", "3")
    mc.set_registered_model_alias(name, "canary", "5")
    return source


def _import(
    capsys: pytest.CaptureFixture[str],
    server: AuthServer,
    secret: str,
    uri: str,
    *args: str,
) -> dict[str, Any]:
    capsys.readouterr()
    code = main(
        [
            "--target",
            server.target,
            "--token",
            secret,
            "--output",
            "json",
            "--timeout",
            "60",
            "import",
            "mlflow",
            "--tracking-uri",
            uri,
            *args,
        ]
    )
    out, err = capsys.readouterr()
    report: dict[str, Any] = json.loads(out)
    # The report prints either way; the exit status says whether all of it went in.
    assert code == (1 if report["failures"] else 0), err
    return report


def _admin_secret(server: AuthServer) -> str:
    server.admin  # noqa: B018 (makes the admin token)
    return server.admin_secret


def test_import_keeps_numbers_gaps_stages_aliases_tags_and_original_history(
    auth: AuthServer, mlflow_uri: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _populate(mlflow_uri, "fraud")
    admin, secret = auth.admin, _admin_secret(auth)
    before = auth.last_event_id()

    report = _import(capsys, auth, secret, mlflow_uri.uri, "--model", src.name)

    assert report["counts"]["model"]["imported"] == 1
    assert report["counts"]["version"]["imported"] == 3
    assert report["counts"]["alias"]["imported"] == 2
    assert report["failures"] == []
    model = admin.get_registered_model(src.name)
    assert (model.description, model.tags, model.last_version) == (
        "catches fraud",
        {"team": "risk"},
        5,
    )
    rm = src.mlflow.get_registered_model(src.name)
    assert model.creation_timestamp == rm.creation_timestamp
    for number in (1, 3, 5):
        ours = admin.get_model_version(src.name, number)
        theirs = src.mlflow.get_model_version(src.name, str(number))
        assert ours.source == theirs.source == src.source
        assert ours.run_id == src.run_id
        assert ours.lineage.run_link == f"http://mlflow/runs/{number}"
        assert ours.tags == {"i": str(number), "team": "risk"}
        assert ours.description == f"version {number}"
        assert ours.current_stage == theirs.current_stage
        assert ours.creation_timestamp == theirs.creation_timestamp
        assert ours.created_by == (theirs.user_id or "")
    for gap in (2, 4):
        with pytest.raises(NotFound):
            admin.get_model_version(src.name, gap)
    assert admin.get_model_version(src.name, 1).current_stage == "Production"
    assert admin.get_model_version_by_alias(src.name, "champion").version == 3
    assert admin.resolve(f"models:/{src.name}@canary").model_version.version == 5
    assert admin.resolve(f"models:/{src.name}/Staging").model_version.version == 3

    # The history says imported (now, by the admin), with the original time and creator.
    events = admin.list_model_events(src.name, after_event_id=before).events
    assert {e.kind for e in events} == {"imported"}
    assert all(e.actor == "root-admin" for e in events)
    by_version = {e.version: e for e in events if e.after["imported"] == "model_version"}
    assert sorted(by_version) == [1, 3, 5]
    for number, event in by_version.items():
        theirs = src.mlflow.get_model_version(src.name, str(number))
        assert event.after["original_creation_timestamp"] == theirs.creation_timestamp
        assert event.after["original_created_by"] == (theirs.user_id or "")
        assert event.after["imported_from"] == mlflow_uri.uri
        assert event.timestamp >= theirs.creation_timestamp
    state = admin.get_model_state_as_of(src.name, events[-1].timestamp)
    assert {v.version: v.current_stage for v in state.versions} == {
        1: "Production",
        3: "Staging",
        5: "None",
    }
    assert state.aliases == {"canary": 5, "champion": 3}

    # A second run changes nothing and says so.
    cursor = auth.last_event_id()
    again = _import(capsys, auth, secret, mlflow_uri.uri, "--model", src.name)
    assert again["counts"]["version"] == {
        "imported": 0,
        "skipped": 3,
        "failed": 0,
        "would_import": 0,
    }
    assert again["counts"]["model"]["skipped"] == 1
    assert again["counts"]["alias"]["skipped"] == 2
    assert auth.last_event_id() == cursor

    # A new MLflow version: the next run adds just that one.
    src.add_version(6)
    third = _import(capsys, auth, secret, mlflow_uri.uri, "--model", src.name)
    assert [(i["kind"], i.get("version")) for i in third["items"] if i["action"] == "imported"] == [
        ("version", 6)
    ]
    assert admin.get_model_version(src.name, 6).tags["i"] == "6"

    # Our counter continues after MLflow's highest.
    native = admin.create_model_version(src.name, source="s3://ours/7")
    assert native.version == 7

    # MLflow's own version 7 is another version: reported, never rewritten.
    src.add_version(7)
    cursor = auth.last_event_id()
    fourth = _import(capsys, auth, secret, mlflow_uri.uri, "--model", src.name)
    (failure,) = fourth["failures"]
    assert (failure["kind"], failure["version"]) == ("version", 7)
    assert "different version" in failure["reason"]
    assert admin.get_model_version(src.name, 7).source == "s3://ours/7"
    assert auth.last_event_id() == cursor


def test_dry_run_reports_and_changes_nothing(
    sqlite_auth: AuthServer, mlflow_uri: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _populate(mlflow_uri, "dry")
    cursor = sqlite_auth.last_event_id()
    report = _import(
        capsys,
        sqlite_auth,
        _admin_secret(sqlite_auth),
        mlflow_uri.uri,
        "--model",
        src.name,
        "--dry-run",
    )
    assert report["dry_run"] is True
    assert report["counts"]["model"]["would_import"] == 1
    assert report["counts"]["version"]["would_import"] == 3
    assert report["counts"]["alias"]["would_import"] == 2
    assert sqlite_auth.last_event_id() == cursor
    with pytest.raises(NotFound):
        sqlite_auth.admin.get_registered_model(src.name)


def test_copy_artifacts_stores_the_files_in_the_registry_with_a_manifest(
    sqlite_auth: AuthServer,
    mlflow_uri: MlflowServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    src = _populate(mlflow_uri, "copied")
    admin = sqlite_auth.admin
    report = _import(
        capsys,
        sqlite_auth,
        _admin_secret(sqlite_auth),
        mlflow_uri.uri,
        "--model",
        src.name,
        "--copy-artifacts",
    )
    assert report["failures"] == [], json.dumps(report["failures"])
    assert report["counts"]["version"]["imported"] == 3
    mv = admin.get_model_version(src.name, 3)
    assert mv.registry_held_artifacts and mv.status == "READY"
    assert mv.source == f"models:/{src.name}/3"
    assert mv.current_stage == "Staging"
    files = {f.path: f for f in admin.list_artifacts(src.name, 3)}
    assert sorted(files) == ["MLmodel", "sub/weights.bin"]
    assert files["sub/weights.bin"].size == len(b"\x00\x01weights" * 100)
    got = admin.download_artifacts(f"models:/{src.name}@champion", tmp_path / "out")
    assert (tmp_path / "out" / "sub" / "weights.bin").read_bytes() == b"\x00\x01weights" * 100
    assert got is not None
    event = next(
        e for e in admin.list_model_events(src.name, version=3).events if e.kind == "imported"
    )
    assert event.after["original_source"] == src.source
    # Run again: nothing to do.
    again = _import(
        capsys,
        sqlite_auth,
        _admin_secret(sqlite_auth),
        mlflow_uri.uri,
        "--model",
        src.name,
        "--copy-artifacts",
    )
    assert again["counts"]["version"]["skipped"] == 3 and again["failures"] == []


def test_only_global_admins_may_import(
    auth: AuthServer, mlflow_uri: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _populate(mlflow_uri, "denied")
    _, writer = auth.principal_client("writer", "importer")
    with pytest.raises(PermissionDenied, match="global role admin"):
        writer.import_registered_model(src.name, creation_timestamp=1)
    # The importer reports the refusal per model and goes on; nothing is created.
    secret = auth.token(f"w-{uuid.uuid4().hex[:6]}", "writer")
    report = _import(capsys, auth, secret, mlflow_uri.uri, "--model", src.name)
    (failure,) = report["failures"]
    assert failure["kind"] == "model" and "PERMISSION_DENIED" in failure["reason"]
    with pytest.raises(NotFound):
        auth.admin.get_registered_model(src.name)


def test_a_failing_model_does_not_stop_the_others(
    sqlite_auth: AuthServer, mlflow_uri: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _populate(mlflow_uri, "good")
    report = _import(
        capsys,
        sqlite_auth,
        _admin_secret(sqlite_auth),
        mlflow_uri.uri,
        "--model",
        f"missing-{uuid.uuid4().hex[:6]}",
        "--model",
        good.name,
    )
    (failure,) = report["failures"]
    assert failure["kind"] == "model" and failure["name"].startswith("missing-")
    assert report["counts"]["version"]["imported"] == 3


def test_a_failed_copy_leaves_the_version_pending_and_the_next_run_resumes_it(
    sqlite_auth: AuthServer,
    mlflow_uri: MlflowServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import registry_client.importer.mlflow as importer

    src = _populate(mlflow_uri, "resumed")
    admin, secret = sqlite_auth.admin, _admin_secret(sqlite_auth)
    real_upload = importer.upload_file

    def flaky(client: Any, name: str, version: int, local: Any, path: str) -> Any:
        if version == 3 and path == "sub/weights.bin":
            raise OSError("network went away")
        return real_upload(client, name, version, local, path)

    monkeypatch.setattr(importer, "upload_file", flaky)
    args = ("--model", src.name, "--copy-artifacts")
    report = _import(capsys, sqlite_auth, secret, mlflow_uri.uri, *args)
    failed = {(f["kind"], f.get("alias") or f["version"]) for f in report["failures"]}
    assert failed == {("version", 3), ("alias", "champion")}
    assert "left PENDING_REGISTRATION" in report["failures"][0]["reason"]
    assert admin.get_model_version(src.name, 3).status == "PENDING_REGISTRATION"
    assert [f.path for f in admin.list_artifacts(src.name, 3)] == ["MLmodel"]

    monkeypatch.setattr(importer, "upload_file", real_upload)
    again = _import(capsys, sqlite_auth, secret, mlflow_uri.uri, *args)
    assert again["failures"] == []
    resumed = [i for i in again["items"] if i["action"] == "imported"]
    assert [(i["kind"], i.get("version")) for i in resumed] == [("version", 3), ("alias", 3)]
    assert admin.get_model_version(src.name, 3).status == "READY"
    assert admin.get_model_version_by_alias(src.name, "champion").version == 3
