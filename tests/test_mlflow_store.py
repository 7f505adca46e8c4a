"""The MLflow registry store plugin: MLflow's own client against our real server.

Every method of MLflow's registry ``AbstractStore`` is called the way a user
reaches it (``MlflowClient``, ``mlflow.register_model``), and checked for
MLflow's return types and error codes. MLflow does not enforce its abstract
methods, so a method we forgot would return None: each one is called here.
"""

from __future__ import annotations

import pickle
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import mlflow.tracking._tracking_service.utils as tracking_utils
import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.abstract_store import AbstractStore

from registry_client import RegistryClient
from registry_client._errors import _BY_CODE, RegistryError
from registry_client.mlflow import _entities, files
from registry_client.mlflow._errors import MLFLOW_CODES, mlflow_errors
from registry_client.mlflow.store import RegistryStore

# MLflow warns that stages are deprecated on every stage call; they still work.
pytestmark = pytest.mark.filterwarnings("ignore:.*Model registry stages:FutureWarning")


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow tracking database for the module's runs (creating one takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-tracking') / 'mlruns.db'}"


@pytest.fixture
def registry_uri(target: str) -> str:
    return f"modelregistry+grpc://{target}"


@pytest.fixture
def mc(registry_uri: str, tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def _code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


# ------------------------------------------------------------------ the plugin is found


@pytest.mark.parametrize("scheme", ["modelregistry+grpc", "modelregistry+grpcs"])
def test_mlflow_builds_our_store_for_both_schemes(scheme: str, target: str) -> None:
    uri = f"{scheme}://{target}"
    store = registry_utils._get_store(uri)
    assert isinstance(store, RegistryStore)
    assert store.store_uri == uri
    assert store.client.target == target
    assert store.client.tls is (scheme == "modelregistry+grpcs")


def test_the_store_is_cached_per_uri_by_mlflow(
    mc: MlflowClient, registry_uri: str, tracking_uri: str
) -> None:
    store = registry_utils._get_store(registry_uri, tracking_uri)
    assert mc._get_registry_client().store is store
    assert store.tracking_uri == tracking_uri


def test_every_abstract_method_is_ours() -> None:
    """A method left to AbstractStore silently returns None (its body is a docstring)."""
    abstract = [
        name
        for name, member in vars(AbstractStore).items()
        if getattr(member, "__isabstractmethod__", False)
    ]
    assert len(abstract) >= 20  # 21 in MLflow 3.17
    inherited = [n for n in abstract if getattr(RegistryStore, n) is getattr(AbstractStore, n)]
    assert inherited == []


def test_a_bad_uri_is_invalid_parameter_value() -> None:
    with pytest.raises(MlflowException) as excinfo:
        RegistryStore("modelregistry+grpc://host:50051/some/path")
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as excinfo:
        RegistryStore("modelregistry+grpcs://host:50051?tls_ca=/does/not/exist.pem")
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"
    assert "tls_ca" in excinfo.value.message


def test_token_and_actor_come_from_the_registry_settings(
    monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.setenv("REGISTRY_ACTOR", "mlflow-user")
    monkeypatch.setenv("REGISTRY_TOKEN", "secret-token")
    store = RegistryStore(f"modelregistry+grpc://{target}")
    assert store.client.actor == "mlflow-user"
    assert dict(store.client._metadata)["authorization"] == "Bearer secret-token"
    store.close()


def test_a_pickled_store_reconnects(registry_uri: str, model_name: str) -> None:
    store = RegistryStore(registry_uri)
    store.create_registered_model(model_name)
    copy = pickle.loads(pickle.dumps(store))
    assert copy.client is not store.client
    assert copy.get_registered_model(model_name).name == model_name
    store.close()
    copy.close()


# ------------------------------------------------------------------ registered models


def test_registered_model_lifecycle(mc: MlflowClient, model_name: str) -> None:
    created = mc.create_registered_model(model_name, tags={"team": "risk"}, description="fraud")
    assert isinstance(created, RegisteredModel)
    assert (created.name, created.description, created.tags) == (
        model_name,
        "fraud",
        {"team": "risk"},
    )
    assert created.creation_timestamp > 0
    assert created.latest_versions == []
    assert created.aliases == {}

    updated = mc.update_registered_model(model_name, description="fraud v2")
    assert isinstance(updated, RegisteredModel)
    assert updated.description == "fraud v2"
    assert mc.get_registered_model(model_name).description == "fraud v2"

    # MlflowClient returns None here; the store returns the renamed model.
    assert mc.rename_registered_model(model_name, f"{model_name}-new") is None
    store = mc._get_registry_client().store
    renamed = store.rename_registered_model(f"{model_name}-new", f"{model_name}-newer")
    assert isinstance(renamed, RegisteredModel)
    assert renamed.name == f"{model_name}-newer"
    store.rename_registered_model(f"{model_name}-newer", f"{model_name}-new")
    with pytest.raises(MlflowException) as excinfo:
        mc.get_registered_model(model_name)
    assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"

    assert mc.delete_registered_model(f"{model_name}-new") is None
    with pytest.raises(MlflowException) as excinfo:
        mc.get_registered_model(f"{model_name}-new")
    assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"


def test_creating_an_existing_model_is_resource_already_exists(
    mc: MlflowClient, model_name: str
) -> None:
    mc.create_registered_model(model_name)
    with pytest.raises(MlflowException) as excinfo:
        mc.create_registered_model(model_name)
    assert _code(excinfo) == "RESOURCE_ALREADY_EXISTS"


def test_missing_models_are_resource_does_not_exist(mc: MlflowClient, model_name: str) -> None:
    calls = [
        lambda: mc.get_registered_model(model_name),
        lambda: mc.update_registered_model(model_name, "x"),
        lambda: mc.rename_registered_model(model_name, f"{model_name}-2"),
        lambda: mc.delete_registered_model(model_name),
        lambda: mc.set_registered_model_tag(model_name, "k", "v"),
        lambda: mc.get_latest_versions(model_name),
        lambda: mc.create_model_version(model_name, "s3://b/m"),
        lambda: mc.get_model_version(model_name, "1"),
        lambda: mc.get_model_version_by_alias(model_name, "champion"),
    ]
    for call in calls:
        with pytest.raises(MlflowException) as excinfo:
            call()
        assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"


def test_model_tags(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    assert mc.set_registered_model_tag(model_name, "team", "risk") is None
    mc.set_registered_model_tag(model_name, "tier", "1")
    assert mc.get_registered_model(model_name).tags == {"team": "risk", "tier": "1"}
    assert mc.delete_registered_model_tag(model_name, "team") is None
    assert mc.get_registered_model(model_name).tags == {"tier": "1"}


def test_an_invalid_name_is_invalid_parameter_value(mc: MlflowClient) -> None:
    with pytest.raises(MlflowException) as excinfo:
        mc.get_registered_model("bad/name" + uuid.uuid4().hex)
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"


# ------------------------------------------------------------------ model versions


def test_version_lifecycle(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    mv = mc.create_model_version(
        model_name,
        "s3://bucket/fraud/1",
        run_id="run-1",
        tags={"accuracy": "0.91"},
        run_link="https://mlflow.internal/runs/run-1",
        description="first",
    )
    assert isinstance(mv, ModelVersion)
    assert (mv.name, mv.version, mv.source, mv.run_id, mv.run_link) == (
        model_name,
        "1",
        "s3://bucket/fraud/1",
        "run-1",
        "https://mlflow.internal/runs/run-1",
    )
    assert (mv.status, mv.current_stage, mv.description) == ("READY", "None", "first")
    assert mv.tags == {"accuracy": "0.91"}
    assert mv.aliases == []
    assert mv.status_message is None

    got = mc.get_model_version(model_name, "1")
    assert isinstance(got, ModelVersion)
    assert (got.version, got.source, got.run_id) == ("1", "s3://bucket/fraud/1", "run-1")

    plain = mc.create_model_version(model_name, "s3://bucket/fraud/2")
    assert (plain.version, plain.run_id, plain.description) == ("2", None, None)

    updated = mc.update_model_version(model_name, "1", description="first, checked")
    assert isinstance(updated, ModelVersion)
    assert updated.description == "first, checked"

    assert mc.delete_model_version(model_name, "1") is None
    with pytest.raises(MlflowException) as excinfo:
        mc.get_model_version(model_name, "1")
    assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    # Numbers are never reused, as in MLflow.
    assert mc.create_model_version(model_name, "s3://bucket/fraud/3").version == "3"


def test_version_tags(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    mc.create_model_version(model_name, "s3://b/m")
    assert mc.set_model_version_tag(model_name, "1", "validated", "yes") is None
    assert mc.get_model_version(model_name, "1").tags == {"validated": "yes"}
    assert mc.delete_model_version_tag(model_name, "1", "validated") is None
    assert mc.get_model_version(model_name, "1").tags == {}
    with pytest.raises(MlflowException) as excinfo:
        mc.set_model_version_tag(model_name, "9", "k", "v")
    assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"


def test_a_version_that_is_not_a_number_is_invalid_parameter_value(
    mc: MlflowClient, model_name: str
) -> None:
    mc.create_registered_model(model_name)
    with pytest.raises(MlflowException) as excinfo:
        mc.get_model_version(model_name, "latest")
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"


def test_download_uri_of_a_pointer_version_is_its_source(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    mc.create_model_version(model_name, "s3://bucket/fraud/1")
    assert mc.get_model_version_download_uri(model_name, "1") == "s3://bucket/fraud/1"


# ------------------------------------------------------------------ stages


def test_stage_transitions_with_archive_existing_versions(
    mc: MlflowClient, model_name: str
) -> None:
    mc.create_registered_model(model_name)
    for i in range(3):
        mc.create_model_version(model_name, f"s3://b/{i}")
    moved = mc.transition_model_version_stage(model_name, "1", "production")
    assert isinstance(moved, ModelVersion)
    assert moved.current_stage == "Production"
    mc.transition_model_version_stage(model_name, "2", "Staging")
    mc.transition_model_version_stage(model_name, "3", "Production", archive_existing_versions=True)
    stages = {v: mc.get_model_version(model_name, v).current_stage for v in ("1", "2", "3")}
    assert stages == {"1": "Archived", "2": "Staging", "3": "Production"}


def test_an_unknown_stage_is_invalid_parameter_value(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    mc.create_model_version(model_name, "s3://b/0")
    with pytest.raises(MlflowException) as excinfo:
        mc.transition_model_version_stage(model_name, "1", "Canary")
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"


def test_get_latest_versions_per_stage(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    for i in range(4):
        mc.create_model_version(model_name, f"s3://b/{i}")
    mc.transition_model_version_stage(model_name, "1", "Production")
    mc.transition_model_version_stage(model_name, "2", "Production")
    mc.transition_model_version_stage(model_name, "3", "Staging")

    def latest(stages: list[str] | None) -> dict[str, str]:
        found = mc.get_latest_versions(model_name, stages)
        assert all(isinstance(v, ModelVersion) for v in found)
        return {v.current_stage: v.version for v in found}

    assert latest(None) == {"Production": "2", "Staging": "3", "None": "4"}
    assert latest([]) == {"Production": "2", "Staging": "3", "None": "4"}
    assert latest(["PRODUCTION"]) == {"Production": "2"}
    assert latest(["staging", "None"]) == {"Staging": "3", "None": "4"}
    assert latest(["Archived"]) == {}
    # The model carries the same latest versions.
    latest_of_model = mc.get_registered_model(model_name).latest_versions
    assert {v.current_stage: v.version for v in latest_of_model} == latest(None)


# ------------------------------------------------------------------ aliases


def test_aliases(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    mc.create_model_version(model_name, "s3://b/1")
    mc.create_model_version(model_name, "s3://b/2")
    assert mc.set_registered_model_alias(model_name, "champion", "1") is None
    mc.set_registered_model_alias(model_name, "challenger", 2)
    assert mc.get_registered_model(model_name).aliases == {"champion": "1", "challenger": "2"}
    by_alias = mc.get_model_version_by_alias(model_name, "champion")
    assert isinstance(by_alias, ModelVersion)
    assert (by_alias.version, by_alias.aliases) == ("1", ["champion"])

    mc.set_registered_model_alias(model_name, "champion", "2")
    assert sorted(mc.get_model_version(model_name, "2").aliases) == ["challenger", "champion"]
    assert mc.delete_registered_model_alias(model_name, "champion") is None
    with pytest.raises(MlflowException) as excinfo:
        mc.get_model_version_by_alias(model_name, "champion")
    assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as excinfo:
        mc.set_registered_model_alias(model_name, "champion", "7")
    assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"


# ------------------------------------------------------------------ copies, register_model


def test_copy_model_version(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    mc.create_model_version(
        model_name, "s3://b/1", run_id="run-7", tags={"k": "v"}, description="src"
    )
    copy = mc.copy_model_version(f"models:/{model_name}/1", f"{model_name}-prod")
    assert isinstance(copy, ModelVersion)
    assert (copy.name, copy.version, copy.source) == (
        f"{model_name}-prod",
        "1",
        f"models:/{model_name}/1",
    )
    assert (copy.run_id, copy.tags, copy.description) == ("run-7", {"k": "v"}, "src")
    # Into an existing model: the next version.
    again = mc.copy_model_version(f"models:/{model_name}/1", f"{model_name}-prod")
    assert again.version == "2"


@pytest.fixture
def fluent(
    monkeypatch: pytest.MonkeyPatch, tracking_uri: str, registry_uri: str, tmp_path: Path
) -> Iterator[str]:
    """MLflow's process-wide URIs pointed at our registry for one test; an
    experiment of the test's own; the globals are put back after."""
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_uri)
    experiment = mlflow.create_experiment(
        f"exp-{uuid.uuid4().hex}", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    yield experiment
    if mlflow.active_run() is not None:
        mlflow.end_run()


def test_register_model_twice_continues_with_a_new_version(
    fluent: str, tmp_path: Path, model_name: str
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    with mlflow.start_run(experiment_id=fluent) as run:
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
    uri = f"runs:/{run.info.run_id}/model"

    first = mlflow.register_model(uri, model_name)
    second = mlflow.register_model(uri, model_name)
    assert isinstance(first, ModelVersion)
    assert (first.version, second.version) == ("1", "2")
    assert first.run_id == second.run_id == run.info.run_id
    assert first.source.endswith("/model")
    assert MlflowClient().get_registered_model(model_name).name == model_name


# ------------------------------------------------------------------ webhooks


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_webhook("hook", "https://example.com/hook", []),
        lambda s: s.get_webhook("wh-1"),
        lambda s: s.list_webhooks(),
        lambda s: s.list_webhooks_by_event(None),
        lambda s: s.update_webhook("wh-1", name="x"),
        lambda s: s.delete_webhook("wh-1"),
        lambda s: s.test_webhook("wh-1"),
    ],
)
def test_webhooks_are_refused_clearly(registry_uri: str, call: Any) -> None:
    store = registry_utils._get_store(registry_uri)
    with pytest.raises(MlflowException) as excinfo:
        call(store)
    assert _code(excinfo) == "NOT_IMPLEMENTED"
    assert "webhooks are not supported" in excinfo.value.message


def test_webhooks_through_mlflow_client(mc: MlflowClient) -> None:
    with pytest.raises(MlflowException) as excinfo:
        mc.list_webhooks()
    assert _code(excinfo) == "NOT_IMPLEMENTED"


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("code", sorted(_BY_CODE, key=lambda c: c.name))
def test_every_registry_error_has_an_mlflow_code(code: grpc.StatusCode) -> None:
    with pytest.raises(MlflowException) as excinfo, mlflow_errors():
        raise _BY_CODE[code]("the server's words")
    assert _code(excinfo) == MLFLOW_CODES[code]
    assert excinfo.value.message == "the server's words"
    assert isinstance(excinfo.value.__cause__, RegistryError)


def test_the_codes_mlflow_branches_on() -> None:
    assert MLFLOW_CODES[grpc.StatusCode.NOT_FOUND] == "RESOURCE_DOES_NOT_EXIST"
    assert MLFLOW_CODES[grpc.StatusCode.ALREADY_EXISTS] == "RESOURCE_ALREADY_EXISTS"
    assert MLFLOW_CODES[grpc.StatusCode.INVALID_ARGUMENT] == "INVALID_PARAMETER_VALUE"
    assert MLFLOW_CODES[grpc.StatusCode.PERMISSION_DENIED] == "PERMISSION_DENIED"
    assert MLFLOW_CODES[grpc.StatusCode.UNAUTHENTICATED] == "UNAUTHENTICATED"


def test_an_unreachable_registry_is_temporarily_unavailable(model_name: str) -> None:
    store = RegistryStore("modelregistry+grpc://127.0.0.1:1?timeout=2")
    store.client.max_attempts = 1
    with pytest.raises(MlflowException) as excinfo:
        store.get_registered_model(model_name)
    assert _code(excinfo) == "TEMPORARILY_UNAVAILABLE"
    store.close()


def test_the_tag_names_shared_with_the_files_mixin_agree() -> None:
    assert _entities._TAG_PREFIX == files.TAG_PREFIX
    assert _entities._SOURCE_TAG == files.SOURCE_TAG
    assert _entities._MODEL_ID_TAG == files.MODEL_ID_TAG


def test_mlflow_fields_kept_in_tags_come_back_as_fields(
    client: RegistryClient, mc: MlflowClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(
        model_name,
        source="s3://b/1",
        tags={files.MODEL_ID_TAG: "m-123", files.SOURCE_TAG: "models:/m-123", "k": "v"},
    )
    mv = mc.get_model_version(model_name, "1")
    assert (mv.model_id, mv.source, mv.tags) == ("m-123", "models:/m-123", {"k": "v"})


# ------------------------------------------------------------------ threads


def test_one_store_used_from_eight_threads(registry_uri: str, model_name: str) -> None:
    """MLflow caches one store per URI and calls it from every thread."""
    store = registry_utils._get_store(registry_uri)
    store.create_registered_model(model_name)
    errors: list[BaseException] = []
    created: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(i: int) -> None:
        try:
            start.wait()
            for j in range(5):
                mv = store.create_model_version(model_name, f"s3://b/{i}/{j}")
                store.set_model_version_tag(model_name, mv.version, _tag(f"t{i}", str(j)))
                got = store.get_model_version(model_name, mv.version)
                assert got.source == f"s3://b/{i}/{j}"
                store.set_registered_model_alias(model_name, f"a{i}", mv.version)
                assert store.get_model_version_by_alias(model_name, f"a{i}").version == mv.version
                with lock:
                    created.append(mv.version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(created, key=int) == [str(n) for n in range(1, 41)]
    model = store.get_registered_model(model_name)
    assert len(model.aliases) == 8


def _tag(key: str, value: str) -> Any:
    from mlflow.entities.model_registry import ModelVersionTag

    return ModelVersionTag(key, value)


# ------------------------------------------------------------------ authentication


def test_token_from_registry_token_and_mlflow_codes_for_access(
    sqlite_auth: Any, monkeypatch: pytest.MonkeyPatch, model_name: str
) -> None:
    """REGISTRY_TOKEN reaches the server; a missing token is UNAUTHENTICATED,
    a reader's write PERMISSION_DENIED, as MLflow's server reports them."""
    uri = f"modelregistry+grpc://{sqlite_auth.target}"
    monkeypatch.delenv("REGISTRY_TOKEN", raising=False)
    anonymous = RegistryStore(uri)
    with pytest.raises(MlflowException) as excinfo:
        anonymous.get_registered_model(model_name)
    assert _code(excinfo) == "UNAUTHENTICATED"
    anonymous.close()

    monkeypatch.setenv("REGISTRY_TOKEN", sqlite_auth.token("writer-bot", "writer"))
    writer = RegistryStore(uri)
    assert writer.create_registered_model(model_name).name == model_name
    writer.close()

    monkeypatch.setenv("REGISTRY_TOKEN", sqlite_auth.token("reader-bot", "reader"))
    reader = RegistryStore(uri)
    assert reader.get_registered_model(model_name).name == model_name
    with pytest.raises(MlflowException) as excinfo:
        reader.create_model_version(model_name, "s3://b/1")
    assert _code(excinfo) == "PERMISSION_DENIED"
    reader.close()
