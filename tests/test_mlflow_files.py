"""MLflow's model files go into the registry (registry_client.mlflow.files).

`log_model(..., registered_model_name=...)` hands the store the folder it wrote: it becomes
a READY registry-held version with a sha256 manifest, whose lineage names the training run.
`register_model("runs:/...")` records a pointer, unless the registry URI says
`copy_artifacts=true`. Real MLflow (SQLite tracking) against our real server, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from support.mlflow_env import MlflowEnv, log_model, predict, use_mlflow

from registry_client import FailedPrecondition, RegistryClient
from registry_client.mlflow import _entities
from registry_client.mlflow.files import (
    MODEL_ID_TAG,
    SOURCE_TAG,
    TAG_PREFIX,
    copy_artifacts_requested,
)

# Each test logs real MLflow models through the plugin: the full run, not the fast lane.
pytestmark = pytest.mark.slow

SHA256 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="session")
def tracking_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-tracking") / "mlflow.db"


def _env(
    monkeypatch: pytest.MonkeyPatch, tracking_db: Path, tmp_path: Path, registry_uri: str
) -> Iterator[MlflowEnv]:
    with use_mlflow(monkeypatch, tracking_db, tmp_path / "artifacts", registry_uri) as env:
        yield env


@pytest.fixture
def mlflow_env(
    monkeypatch: pytest.MonkeyPatch, tracking_db: Path, tmp_path: Path, target: str
) -> Iterator[MlflowEnv]:
    yield from _env(monkeypatch, tracking_db, tmp_path, f"modelregistry+grpc://{target}")


@pytest.fixture
def copying_env(
    monkeypatch: pytest.MonkeyPatch, tracking_db: Path, tmp_path: Path, target: str
) -> Iterator[MlflowEnv]:
    uri = f"modelregistry+grpc://{target}?copy_artifacts=true"
    yield from _env(monkeypatch, tracking_db, tmp_path, uri)


def _local_manifest(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        p.relative_to(folder).as_posix(): (
            p.stat().st_size,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _logged_files(model_id: str) -> dict[str, tuple[int, str]]:
    """What MLflow stored for the logged model, read back from its artifact location."""
    location = mlflow.MlflowClient().get_logged_model(model_id).artifact_location
    return _local_manifest(Path(mlflow.artifacts.download_artifacts(location)))


def test_tag_names_agree_with_the_entities_reader() -> None:
    assert (TAG_PREFIX, SOURCE_TAG, MODEL_ID_TAG) == (
        _entities._TAG_PREFIX,
        _entities._SOURCE_TAG,
        _entities._MODEL_ID_TAG,
    )


def test_log_model_registers_a_ready_registry_held_version(
    mlflow_env: MlflowEnv, client: RegistryClient, model_name: str
) -> None:
    run_id, info = log_model(mlflow_env, 2, registered_model_name=model_name)
    ours = client.get_model_version(model_name, 1)
    assert ours.status == "READY"
    assert ours.registry_held_artifacts
    assert ours.source == f"models:/{model_name}/1"
    files = client.list_artifacts(model_name, 1)
    assert "MLmodel" in {f.path for f in files}
    assert all(SHA256.match(f.sha256) for f in files)
    # exactly the files MLflow wrote for the logged model
    assert {f.path: (f.size, f.sha256) for f in files} == _logged_files(info.model_id)
    # lineage: the training run (MLflow 3 passed run_id=None and a model_id)
    assert ours.lineage.run_id == run_id
    assert ours.lineage.experiment_id == mlflow_env.experiment_id
    assert ours.tags[MODEL_ID_TAG] == info.model_id
    assert ours.tags[SOURCE_TAG] == f"models:/{info.model_id}"
    # and MLflow reads it back as it wrote it
    mv = mlflow.MlflowClient().get_model_version(model_name, "1")
    assert (mv.status, mv.run_id, mv.model_id) == ("READY", run_id, info.model_id)
    assert mv.source == f"models:/{info.model_id}"
    assert not any(key.startswith(TAG_PREFIX) for key in mv.tags)


def test_register_model_of_a_run_records_a_pointer(
    mlflow_env: MlflowEnv, client: RegistryClient, model_name: str
) -> None:
    run_id, info = log_model(mlflow_env, 3)
    mv = mlflow.register_model(f"runs:/{run_id}/model", model_name)
    ours = client.get_model_version(model_name, mv.version)
    assert not ours.registry_held_artifacts
    assert ours.status == "READY"
    assert ours.source == f"models:/{info.model_id}"
    assert ours.lineage.run_id == run_id
    assert ours.tags[MODEL_ID_TAG] == info.model_id
    assert SOURCE_TAG not in ours.tags  # the source is the version's own
    with pytest.raises(FailedPrecondition, match="does not hold its artifacts"):
        client.list_artifacts(model_name, mv.version)
    assert mv.run_id == run_id


def test_copy_artifacts_copies_a_registered_runs_files_in(
    copying_env: MlflowEnv, client: RegistryClient, model_name: str
) -> None:
    run_id, info = log_model(copying_env, 4)
    mv = mlflow.register_model(f"runs:/{run_id}/model", model_name)
    ours = client.get_model_version(model_name, mv.version)
    assert ours.registry_held_artifacts and ours.status == "READY"
    files = client.list_artifacts(model_name, mv.version)
    assert {f.path: (f.size, f.sha256) for f in files} == _logged_files(info.model_id)
    assert ours.tags[SOURCE_TAG] == f"models:/{info.model_id}"
    assert ours.lineage.run_id == run_id
    download_uri = mlflow.MlflowClient().get_model_version_download_uri(model_name, mv.version)
    assert download_uri.startswith("modelregistry+grpc://")
    assert predict(f"models:/{model_name}/{mv.version}") == [4, 8, 12]


def test_copy_artifacts_makes_copy_model_version_a_registry_held_copy(
    copying_env: MlflowEnv, client: RegistryClient, model_name: str
) -> None:
    run_id, _ = log_model(copying_env, 7, registered_model_name=model_name)
    copy = mlflow.MlflowClient().copy_model_version(f"models:/{model_name}/1", f"{model_name}-c")
    ours = client.get_model_version(f"{model_name}-c", copy.version)
    assert ours.registry_held_artifacts
    assert ours.tags[SOURCE_TAG] == f"models:/{model_name}/1"
    assert ours.lineage.run_id == run_id
    original = {(f.path, f.sha256) for f in client.list_artifacts(model_name, 1)}
    assert {(f.path, f.sha256) for f in client.list_artifacts(ours.name, ours.version)} == original


def test_copy_artifacts_copies_any_source_mlflow_can_download(
    copying_env: MlflowEnv, client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    """A plain folder URI, no run, no logged model: the files and the source are kept."""
    folder = tmp_path / "plain"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    (folder / "b.bin").write_bytes(b"\x00\x01")
    mlflow.MlflowClient().create_registered_model(model_name)
    mv = mlflow.MlflowClient().create_model_version(model_name, folder.as_uri())
    ours = client.get_model_version(model_name, mv.version)
    assert ours.registry_held_artifacts
    assert {f.path: (f.size, f.sha256) for f in client.list_artifacts(model_name, 1)} == (
        _local_manifest(folder)
    )
    assert mv.source == folder.as_uri()
    assert mv.run_id is None


def test_a_source_that_cannot_be_copied_creates_no_version(
    copying_env: MlflowEnv, client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    mlflow.MlflowClient().create_registered_model(model_name)
    with pytest.raises(MlflowException, match="copy_artifacts: could not download"):
        mlflow.MlflowClient().create_model_version(model_name, (tmp_path / "gone").as_uri())
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 0


def test_copy_artifacts_values(target: str) -> None:
    base = f"modelregistry+grpc://{target}"
    for value, expected in [("true", True), ("1", True), ("YES", True), ("false", False)]:
        assert copy_artifacts_requested(f"{base}?copy_artifacts={value}") is expected
    assert copy_artifacts_requested(base) is False
    assert copy_artifacts_requested(f"{base}?timeout=5") is False
    with pytest.raises(MlflowException, match="expected true or false"):
        copy_artifacts_requested(f"{base}?copy_artifacts=maybe")


def test_an_unknown_logged_model_is_reported(
    mlflow_env: MlflowEnv, client: RegistryClient, model_name: str
) -> None:
    """MLflow's own store raises too: a version whose run cannot be found is not created."""
    mlflow.MlflowClient().create_registered_model(model_name)
    with pytest.raises(MlflowException, match="cannot find the run of logged model"):
        mlflow.MlflowClient().create_model_version(
            model_name, "s3://bucket/model", model_id="m-0123456789abcdef0123456789abcdef"
        )
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 0
