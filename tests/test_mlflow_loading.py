"""MLflow loads registry-held versions through our artifact repository.

Versions whose files the registry holds get a download URI of our own scheme
(`modelregistry+grpc://host:port/<percent-encoded name>/<version>`), served by
`registry_client.mlflow.artifacts.RegistryArtifactRepository`; pointer versions hand
MLflow their source unchanged. Real MLflow, our real server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from support.artifacts import file_tree
from support.mlflow_env import MlflowEnv, log_model, predict, use_mlflow
from support.net import free_port
from support.waiting import wait_until

from registry_client import RegistryClient
from registry_client.artifacts import download
from registry_client.mlflow.artifacts import RegistryArtifactRepository
from registry_client.mlflow.files import version_artifact_uri

# Each test logs and loads real MLflow models (a second or more): the full run, not the fast lane.
pytestmark = pytest.mark.slow

#: Allowed by the registry (no '/', ':' or '@'), and each one means something in a URI.
ODD_NAME = "odd name %25 ?q=1 #frag +plus é 模型"


@pytest.fixture(scope="session")
def tracking_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-tracking") / "mlflow.db"


@pytest.fixture
def mlflow_env(
    monkeypatch: pytest.MonkeyPatch, tracking_db: Path, tmp_path: Path, target: str
) -> Iterator[MlflowEnv]:
    with use_mlflow(
        monkeypatch, tracking_db, tmp_path / "artifacts", f"modelregistry+grpc://{target}"
    ) as env:
        yield env


@pytest.fixture
def held(client: RegistryClient, model_name: str, tmp_path: Path) -> tuple[str, Path]:
    """A registry-held version 1 under a name full of URI metacharacters: (name, files)."""
    name = f"{ODD_NAME} {model_name}"
    src = tmp_path / "src"
    (src / "weights" / "shards").mkdir(parents=True)
    (src / "weights" / "model.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    (src / "weights" / "shards" / "part 0%.bin").write_bytes(b"shard")
    (src / "MLmodel").write_text(f"for {model_name}\n")
    client.create_registered_model(name)
    client.log_model_version(name, src)
    return name, src


def _uri(target: str, name: str, version: int = 1) -> str:
    return version_artifact_uri(f"modelregistry+grpc://{target}", name, version)


# ------------------------------------------------------------ the artifact repository


def test_uri_percent_encodes_the_name_and_round_trips(target: str) -> None:
    uri = _uri(target, ODD_NAME, 7)
    assert uri == (
        f"modelregistry+grpc://{target}/odd%20name%20%2525%20%3Fq%3D1%20%23frag%20%2Bplus"
        "%20%C3%A9%20%E6%A8%A1%E5%9E%8B/7"
    )
    repo = RegistryArtifactRepository(uri)
    assert (repo._name, repo._version, repo._prefix) == (ODD_NAME, 7, "")


def test_uri_keeps_the_store_uris_options() -> None:
    uri = version_artifact_uri("modelregistry+grpcs://reg.example:443?timeout=30", "m", 2)
    assert uri == "modelregistry+grpcs://reg.example:443/m/2?timeout=30"


def test_repository_connects_as_the_store_uri_says(target: str, held: tuple[str, Path]) -> None:
    """The store URI's options ride along in the download URI and are checked the same way:
    secrets are refused, a store option such as copy_artifacts is harmless."""
    name, _ = held
    store_uri = f"modelregistry+grpc://{target}?copy_artifacts=true&timeout=20"
    repo = RegistryArtifactRepository(version_artifact_uri(store_uri, name, 1))
    assert repo._client.timeout == 20
    assert "MLmodel" in {f.path for f in repo.list_artifacts("")}
    with pytest.raises(MlflowException, match="REGISTRY_TOKEN") as err:
        RegistryArtifactRepository(f"modelregistry+grpc://{target}/m/1?token=secret")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="not a version number"):
        RegistryArtifactRepository(f"modelregistry+grpc://{target}/m/champion")


def test_repository_lists_one_level_at_a_time(target: str, held: tuple[str, Path]) -> None:
    name, _ = held
    repo = RegistryArtifactRepository(_uri(target, name))
    top = repo.list_artifacts("")
    assert [(f.path, f.is_dir) for f in top] == [("MLmodel", False), ("weights", True)]
    assert [(f.path, f.is_dir) for f in repo.list_artifacts("weights")] == [
        ("weights/model.bin", False),
        ("weights/shards", True),
    ]
    assert repo.list_artifacts("weights/model.bin") == []  # a file, as MLflow's repos answer
    assert repo.list_artifacts("nothing/here") == []
    (shard,) = repo.list_artifacts("weights/shards")
    assert (shard.path, shard.file_size) == ("weights/shards/part 0%.bin", 5)


def test_repository_downloads_a_version_a_folder_and_a_file(
    target: str, held: tuple[str, Path], tmp_path: Path
) -> None:
    name, src = held
    repo = RegistryArtifactRepository(_uri(target, name))
    whole = tmp_path / "whole"
    whole.mkdir()
    assert repo.download_artifacts("", str(whole)) == str(whole)
    assert file_tree(whole) == file_tree(src)
    folder = repo.download_artifacts("weights/shards")
    assert file_tree(Path(folder)) == {"part 0%.bin": b"shard"}
    single = repo.download_artifacts("MLmodel")
    assert Path(single).read_bytes() == (src / "MLmodel").read_bytes()
    with pytest.raises(MlflowException, match="no artifact"):
        repo.download_artifacts("missing.txt")


def test_mlflow_download_artifacts_takes_our_uri(
    target: str, held: tuple[str, Path], tmp_path: Path
) -> None:
    """MLflow splits the last segment off (root `.../<name>`, path `1`): the version then
    comes first in the paths it asks for."""
    name, src = held
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=_uri(target, name), dst_path=str(tmp_path / "dl")
    )
    assert Path(local) == tmp_path / "dl" / "1"
    assert file_tree(Path(local)) == file_tree(src)
    below = mlflow.artifacts.download_artifacts(
        artifact_uri=_uri(target, name) + "/weights/shards", dst_path=str(tmp_path / "sub")
    )
    assert file_tree(Path(below)) == {"part 0%.bin": b"shard"}


def test_a_uri_below_the_version_is_rooted_there(
    target: str, held: tuple[str, Path], tmp_path: Path
) -> None:
    name, src = held
    repo = RegistryArtifactRepository(_uri(target, name) + "/weights")
    assert [f.path for f in repo.list_artifacts()] == ["model.bin", "shards"]
    out = tmp_path / "w"
    out.mkdir()
    repo.download_artifacts("", str(out))
    assert file_tree(out) == file_tree(src / "weights")


def test_files_come_from_presigned_urls_when_the_store_offers_them(
    backend: str,
    client: RegistryClient,
    target: str,
    held: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The repository downloads through the client, which decides: presigned GETs where the
    artifact store can sign them (S3 here, on the PostgreSQL backend), else the registry's
    stream (the SQLite backend's local folder)."""
    name, src = held
    fetched: list[str] = []
    real = download._fetch_url

    def counting(url: str, sink: Any) -> None:
        fetched.append(url)
        real(url, sink)

    monkeypatch.setattr(download, "_fetch_url", counting)
    out = tmp_path / "out"
    out.mkdir()
    RegistryArtifactRepository(_uri(target, name)).download_artifacts("", str(out))
    assert file_tree(out) == file_tree(src)
    presigned = client.get_artifact_download_urls(name, 1).supported
    assert len(fetched) == (3 if presigned else 0)
    assert presigned == (backend == "postgresql")


def test_repository_is_read_only(target: str, held: tuple[str, Path], tmp_path: Path) -> None:
    name, src = held
    repo = RegistryArtifactRepository(_uri(target, name))
    for call in (
        lambda: repo.log_artifact(str(src / "MLmodel")),
        lambda: repo.log_artifacts(str(src)),
        lambda: repo.delete_artifacts("MLmodel"),
    ):
        with pytest.raises(MlflowException, match="registry-held") as err:
            call()
        assert err.value.error_code == "INVALID_STATE"


def test_a_missing_version_is_resource_does_not_exist(target: str, held: tuple[str, Path]) -> None:
    name, _ = held
    with pytest.raises(MlflowException) as err:
        RegistryArtifactRepository(_uri(target, name, 99)).list_artifacts("")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_corrupted_file_is_refused(
    backend: str,
    request: pytest.FixtureRequest,
    target: str,
    held: tuple[str, Path],
    tmp_path: Path,
) -> None:
    """The bytes are checked against the manifest's sha256: a stored file changed behind the
    registry's back never lands where MLflow looks."""
    if backend != "sqlite":
        pytest.skip("tampers with the local artifact folder of the SQLite server")
    name, src = held
    root: Path = request.getfixturevalue("sqlite_artifact_dir")
    original = (src / "MLmodel").read_bytes()
    (stored,) = [p for p in root.rglob("MLmodel") if p.read_bytes() == original]
    stored.write_bytes(original.upper())  # same size, other bytes
    out = tmp_path / "out"
    out.mkdir()
    repo = RegistryArtifactRepository(_uri(target, name))
    with pytest.raises(MlflowException, match="sha256"):
        repo.download_artifacts("", str(out))
    assert not (out / "MLmodel").exists()
    with pytest.raises(MlflowException, match="sha256"):
        repo._download_file("MLmodel", str(out / "MLmodel"))
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == []


# ------------------------------------------------------------ loading through models:/


def test_every_models_uri_form_loads_a_registry_held_version(
    mlflow_env: MlflowEnv, client: RegistryClient, model_name: str
) -> None:
    log_model(mlflow_env, 2, registered_model_name=model_name)
    log_model(mlflow_env, 3, registered_model_name=model_name)
    client.transition_model_version_stage(model_name, 1, "Staging")
    client.set_registered_model_alias(model_name, "champion", 1)
    download_uri = mlflow.MlflowClient().get_model_version_download_uri(model_name, "1")
    assert download_uri == _uri(mlflow_env.registry_uri.split("://")[1], model_name, 1)
    assert predict(f"models:/{model_name}/1") == [2, 4, 6]
    assert predict(f"models:/{model_name}/2") == [3, 6, 9]
    assert predict(f"models:/{model_name}/Staging") == [2, 4, 6]
    assert predict(f"models:/{model_name}/latest") == [3, 6, 9]
    assert predict(f"models:/{model_name}@champion") == [2, 4, 6]


def test_a_pointer_version_loads_from_its_source(
    mlflow_env: MlflowEnv, client: RegistryClient, model_name: str
) -> None:
    run_id, info = log_model(mlflow_env, 5)
    mv = mlflow.register_model(f"runs:/{run_id}/model", model_name)
    ours = client.get_model_version(model_name, mv.version)
    assert not ours.registry_held_artifacts
    source = mlflow.MlflowClient().get_model_version_download_uri(model_name, mv.version)
    assert source == ours.source == info.model_uri  # handed over unchanged
    assert predict(f"models:/{model_name}/{mv.version}") == [5, 10, 15]


def test_a_copied_version_loads_through_the_version_it_copies(
    mlflow_env: MlflowEnv, model_name: str
) -> None:
    """MLflow's copy_model_version records `models:/<source name>/<version>` as a pointer
    (files are copied in only with copy_artifacts=true); MLflow follows it back to us."""
    log_model(mlflow_env, 6, registered_model_name=model_name)
    copy = mlflow.MlflowClient().copy_model_version(f"models:/{model_name}/1", f"{model_name}-copy")
    assert copy.source == f"models:/{model_name}/1"
    assert predict(f"models:/{model_name}-copy/{copy.version}") == [6, 12, 18]


@pytest.mark.slow
def test_mlflow_models_serve_serves_an_alias(
    mlflow_env: MlflowEnv, client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    log_model(mlflow_env, 4, registered_model_name=model_name)
    client.set_registered_model_alias(model_name, "live", 1)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    process = subprocess.Popen(
        [
            *(str(mlflow_cli), "models", "serve", "-m", f"models:/{model_name}@live"),
            *("--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)),
        ],
        # uvicorn, which it starts through bash, is a script beside this interpreter
        env={
            **os.environ,
            **mlflow_env.env(),
            "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the workers go with it
    )
    try:
        wait_until(
            lambda: _ping(port) or process.poll() is not None,
            timeout=180,
            interval=0.5,
            what="mlflow models serve answering /ping",
        )
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        body = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[1], [2], [5]]}})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.load(response) == {"predictions": [4, 8, 20]}
    finally:
        _stop_group(process)
        log.close()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (the CLI and the workers it started), SIGKILL
    to what is left after 30 s."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _ping(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
