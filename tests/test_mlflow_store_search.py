"""Searching through the MLflow registry store: MLflow's filter strings,
``order_by`` and page tokens go to our server as they are; MLflow's prompt
registry (tagged models and versions) works on top of the store and stays out
of plain searches, as on MLflow's own server."""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import mlflow.tracking._model_registry.utils as registry_utils
import mlflow.tracking._tracking_service.utils as tracking_utils
import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList

from registry_client import RegistryClient
from registry_client.mlflow import store as store_module
from registry_server.domain.filter_tree import MODELS, Comparison
from registry_server.domain.search_filter import parse

IS_PROMPT = "mlflow.prompt.is_prompt"


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-tracking') / 'mlruns.db'}"


@pytest.fixture
def registry_uri(target: str) -> str:
    return f"modelregistry+grpc://{target}"


@pytest.fixture
def mc(registry_uri: str, tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def _code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


def _models(mc: MlflowClient, model_name: str, count: int) -> list[str]:
    names = [f"{model_name}-{i}" for i in range(count)]
    for i, name in enumerate(names):
        mc.create_registered_model(name, tags={"team": "risk" if i % 2 else "ops"})
    return names


# ------------------------------------------------------------------ registered models


def test_search_registered_models_with_filter_order_and_pages(
    mc: MlflowClient, model_name: str
) -> None:
    names = _models(mc, model_name, 5)
    found = mc.search_registered_models(f"name LIKE '{model_name}-%'", order_by=["name DESC"])
    assert isinstance(found, PagedList)
    assert all(isinstance(m, RegisteredModel) for m in found)
    assert [m.name for m in found] == names[::-1]
    assert found.token is None

    risk = mc.search_registered_models(f"name LIKE '{model_name}-%' AND tags.team = 'risk'")
    assert [m.name for m in risk] == [names[1], names[3]]

    seen: list[str] = []
    token = None
    while True:
        page = mc.search_registered_models(
            f"name LIKE '{model_name}-%'", max_results=2, page_token=token
        )
        assert len(page) <= 2
        seen.extend(m.name for m in page)
        token = page.token
        if token is None:
            break
    assert seen == names


def test_search_registered_models_through_the_fluent_api(
    registry_uri: str, tracking_uri: str, monkeypatch: pytest.MonkeyPatch, model_name: str
) -> None:
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_uri)
    names = _models(MlflowClient(), model_name, 3)
    # mlflow.search_registered_models follows every page itself.
    found = mlflow.search_registered_models(
        filter_string=f"name LIKE '{model_name}-%'", order_by=["name"]
    )
    assert [m.name for m in found] == names


def test_too_many_results_or_a_bad_filter_is_invalid_parameter_value(mc: MlflowClient) -> None:
    with pytest.raises(MlflowException) as excinfo:
        mc.search_registered_models(max_results=1001)
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as excinfo:
        mc.search_registered_models("name = ")
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as excinfo:
        mc.search_model_versions("nonsense = 'x'")
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as excinfo:
        mc.search_model_versions(max_results=200_001)
    assert _code(excinfo) == "INVALID_PARAMETER_VALUE"


# ------------------------------------------------------------------ model versions


def test_search_model_versions_with_filter_order_and_pages(
    mc: MlflowClient, model_name: str
) -> None:
    mc.create_registered_model(model_name)
    for i in range(5):
        mc.create_model_version(model_name, f"s3://b/{model_name}/{i}", run_id=f"run-{i % 2}")
    found = mc.search_model_versions(f"name = '{model_name}'")
    assert isinstance(found, PagedList)
    assert all(isinstance(v, ModelVersion) for v in found)
    assert [v.version for v in found] == ["5", "4", "3", "2", "1"]

    by_run = mc.search_model_versions(
        f"name = '{model_name}' AND run_id = 'run-1'", order_by=["version_number ASC"]
    )
    assert [v.version for v in by_run] == ["2", "4"]
    in_list = mc.search_model_versions(f"name='{model_name}' AND run_id IN ('run-0')")
    assert [v.version for v in in_list] == ["5", "3", "1"]
    by_source = mc.search_model_versions(f"source_path = 's3://b/{model_name}/3'")
    assert [(v.name, v.version) for v in by_source] == [(model_name, "4")]

    seen: list[str] = []
    token = None
    while True:
        page = mc.search_model_versions(
            f"name = '{model_name}'",
            max_results=2,
            order_by=["version_number ASC"],
            page_token=token,
        )
        seen.extend(v.version for v in page)
        token = page.token
        if token is None:
            break
    assert seen == ["1", "2", "3", "4", "5"]


def test_a_version_search_larger_than_a_server_page_follows_pages(
    mc: MlflowClient, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow asks for up to 10,000 versions by default, our server pages by
    at most 1000: the store follows pages up to max_results (a server page of
    2 stands in for 1000 here)."""
    monkeypatch.setattr(store_module, "_SERVER_MAX_PAGE", 2)
    mc.create_registered_model(model_name)
    for i in range(5):
        mc.create_model_version(model_name, f"s3://b/{i}")
    everything = mc.search_model_versions(f"name = '{model_name}'")
    assert [v.version for v in everything] == ["5", "4", "3", "2", "1"]
    assert everything.token is None

    first = mc.search_model_versions(f"name = '{model_name}'", max_results=3)
    assert [v.version for v in first] == ["5", "4", "3"]
    assert first.token is not None
    rest = mc.search_model_versions(f"name = '{model_name}'", max_results=3, page_token=first.token)
    assert [v.version for v in rest] == ["2", "1"]
    assert rest.token is None


def test_search_versions_by_alias_and_stage(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    for i in range(3):
        mc.create_model_version(model_name, f"s3://b/{i}")
    mc.set_registered_model_alias(model_name, "champion", "2")
    found = mc.search_model_versions(f"name = '{model_name}' AND alias = 'champion'")
    assert [(v.version, v.aliases) for v in found] == [("2", ["champion"])]


# ------------------------------------------------------------------ prompts


def test_prompt_exclusion_filter_keeps_untagged_models(
    client: RegistryClient, model_name: str
) -> None:
    """The server side of MLflow's prompt filter, through our own client:
    ``!= 'true'`` on the prompt tag matches models without it (MLflow's
    anti-join), while ``!=`` on any other tag still needs the tag."""
    client.create_registered_model(f"{model_name}-plain")
    client.create_registered_model(f"{model_name}-prompt", tags={IS_PROMPT: "true"})
    client.create_registered_model(f"{model_name}-other", tags={"team": "ops"})
    names = f"name LIKE '{model_name}-%'"

    def found(extra: str) -> list[str]:
        page = client.search_registered_models(f"{names} AND {extra}")
        return [m.name.removeprefix(f"{model_name}-") for m in page]

    assert found(f"tag.`{IS_PROMPT}` != 'true'") == ["other", "plain"]
    assert found(f"tags.`{IS_PROMPT}` NOT IN ('true')") == ["other", "plain"]
    assert found(f"tags.`{IS_PROMPT}` = 'true'") == ["prompt"]
    assert found("tags.team != 'risk'") == ["other"]


def test_the_prompt_tag_parses_to_none_match() -> None:
    def none_match(text: str) -> bool:
        node = parse(text, MODELS)
        assert isinstance(node, Comparison)
        return node.none_match

    assert none_match(f"tags.`{IS_PROMPT}` != 'true'")
    assert none_match(f"tag.`{IS_PROMPT}` NOT LIKE 't%'")
    assert not none_match(f"tags.`{IS_PROMPT}` = 'true'")
    assert not none_match("tags.team != 'x'")


@pytest.fixture
def fluent(monkeypatch: pytest.MonkeyPatch, tracking_uri: str, registry_uri: str) -> Iterator[None]:
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_uri)
    yield


def test_prompt_registry_through_the_plugin(fluent: None, model_name: str) -> None:
    prompt = f"{model_name}-greeting"
    first = mlflow.genai.register_prompt(
        name=prompt, template="Hello {{name}}", commit_message="first", tags={"lang": "en"}
    )
    second = mlflow.genai.register_prompt(name=prompt, template="Hi {{name}}!")
    assert (first.version, second.version) == (1, 2)

    assert mlflow.genai.load_prompt(f"prompts:/{prompt}/1").template == "Hello {{name}}"
    assert mlflow.genai.load_prompt(f"prompts:/{prompt}@latest").template == "Hi {{name}}!"
    assert mlflow.genai.load_prompt(prompt, version=2).format(name="Ada") == "Hi Ada!"
    mlflow.genai.set_prompt_alias(prompt, "production", 1)
    assert mlflow.genai.load_prompt(f"prompts:/{prompt}@production").template == ("Hello {{name}}")
    mlflow.genai.delete_prompt_alias(prompt, "production")

    found = mlflow.genai.search_prompts(f"name = '{prompt}'")
    assert [p.name for p in found] == [prompt]
    versions = MlflowClient().search_prompt_versions(prompt)
    assert sorted(v.version for v in versions) == [1, 2]

    # Prompts stay out of the model searches, as on MLflow's server.
    mc = MlflowClient()
    assert mc.search_registered_models(f"name = '{prompt}'") == []
    assert mc.search_model_versions(f"name = '{prompt}'") == []
    # ...unless asked for.
    tagged = mc.search_model_versions(f"name = '{prompt}' AND tags.`{IS_PROMPT}` = 'true'")
    assert sorted(v.version for v in tagged) == ["1", "2"]

    mc.set_prompt_tag(prompt, "owner", "nlp")
    assert mc.get_prompt(prompt).tags["owner"] == "nlp"
    mc.set_prompt_version_tag(prompt, 1, "reviewed", "yes")
    assert mc.get_prompt_version(prompt, 1).tags == {"lang": "en", "reviewed": "yes"}
    with pytest.raises(MlflowException, match="not found"):
        mlflow.genai.load_prompt(f"prompts:/{prompt}-missing/1")
    mc.delete_prompt_version(prompt, "2")
    mc.delete_prompt(prompt)
    assert mc.get_prompt(prompt) is None


def test_latest_alias_is_the_highest_version(mc: MlflowClient, model_name: str) -> None:
    mc.create_registered_model(model_name)
    for i in range(3):
        mc.create_model_version(model_name, f"s3://b/{i}")
    mc.delete_model_version(model_name, "3")
    assert mc.get_model_version_by_alias(model_name, "latest").version == "2"
    assert mc.get_model_version_by_alias(model_name, "LATEST").version == "2"
    empty = f"{model_name}-empty"
    mc.create_registered_model(empty)
    with pytest.raises(MlflowException) as excinfo:
        mc.get_model_version_by_alias(empty, "latest")
    assert _code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
