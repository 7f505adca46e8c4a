"""models:/ URIs: the grammar (parser unit tests) and resolution through the server."""

from __future__ import annotations

import pytest

from registry_client import InvalidArgument, NotFound, RegistryClient
from registry_server.domain import uri as uris
from registry_server.domain.entities import Stage
from registry_server.domain.errors import InvalidArgument as DomainInvalidArgument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models:/fraud/7", uris.ModelUri("fraud", uris.Selector.VERSION, version=7)),
        (
            "models:/fraud/Production",
            uris.ModelUri("fraud", uris.Selector.STAGE, stage=Stage.PRODUCTION),
        ),
        ("models:/fraud/staging", uris.ModelUri("fraud", uris.Selector.STAGE, stage=Stage.STAGING)),
        ("models:/fraud/latest", uris.ModelUri("fraud", uris.Selector.LATEST)),
        ("models:/fraud/LATEST", uris.ModelUri("fraud", uris.Selector.LATEST)),
        ("models:/fraud@champion", uris.ModelUri("fraud", uris.Selector.ALIAS, alias="champion")),
        (
            "models:/fraud@champion/model.pkl",
            uris.ModelUri("fraud", uris.Selector.ALIAS, alias="champion", path="model.pkl"),
        ),
        (
            "models:/fraud/3/sub/dir/file.bin",
            uris.ModelUri("fraud", uris.Selector.VERSION, version=3, path="sub/dir/file.bin"),
        ),
        ("models:/fraud/3/", uris.ModelUri("fraud", uris.Selector.VERSION, version=3)),
        (
            "models:/fraud detector v2/1",
            uris.ModelUri("fraud detector v2", uris.Selector.VERSION, version=1),
        ),
    ],
)
def test_parse_valid(text: str, expected: uris.ModelUri) -> None:
    assert uris.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "required"),
        ("fraud/1", "must start with 'models:/'"),
        ("runs:/abc/model", "must start with 'models:/'"),
        ("models://fraud/1", "models://"),
        ("models:/fraud", "must follow the model name"),
        ("models:/fraud/", "is empty"),
        ("models:/fraud@", "alias after '@' is empty"),
        ("models:/@champion", "model name is empty"),
        ("models:/fraud/0", "start at 1"),
        ("models:/fraud/Prod", "not a version number"),
        ("models:/fraud/-1", "not a version number"),
        ("models:/fraud@latest", "reserved"),
        ("models:/fraud@v3", "reserved"),
        ("models:/fraud@bad alias", "must match"),
        ("models:/fraud@a@b", "only one '@'"),
        ("models:/fraud/1/../secret", "'..'"),
        ("models:/fraud/1/a\\b", "backslash"),
        ("models:/ fraud/1", "whitespace"),
        ("models:/fraud/1@x", "must directly follow the model name"),
    ],
)
def test_parse_malformed(text: str, why: str) -> None:
    with pytest.raises(DomainInvalidArgument) as info:
        uris.parse(text)
    assert why in info.value.message


@pytest.fixture
def promoted(client: RegistryClient, model_name: str) -> str:
    client.create_registered_model(model_name)
    for i in range(4):
        client.create_model_version(model_name, source=f"s3://m/{i + 1}")
    client.transition_model_version_stage(model_name, 1, "Production")
    client.transition_model_version_stage(model_name, 2, "Production")
    client.transition_model_version_stage(model_name, 3, "Staging")
    client.set_registered_model_alias(model_name, "champion", 1)
    return model_name


@pytest.mark.parametrize(
    ("suffix", "version", "path"),
    [
        ("/1", 1, ""),
        ("/4", 4, ""),
        ("/latest", 4, ""),
        ("/Production", 2, ""),
        ("/production", 2, ""),
        ("/STAGING", 3, ""),
        ("@champion", 1, ""),
        ("@champion/weights/model.bin", 1, "weights/model.bin"),
        ("/Production/conf.yaml", 2, "conf.yaml"),
    ],
)
def test_resolve(
    client: RegistryClient, promoted: str, suffix: str, version: int, path: str
) -> None:
    resolved = client.resolve(f"models:/{promoted}{suffix}")
    assert resolved.model_version.name == promoted
    assert resolved.model_version.version == version
    assert resolved.path == path
    expected = f"models:/{promoted}/{version}" + (f"/{path}" if path else "")
    assert resolved.resolved_uri == expected


def test_resolve_returns_aliases_and_source(client: RegistryClient, promoted: str) -> None:
    resolved = client.resolve(f"models:/{promoted}@champion")
    assert resolved.model_version.aliases == ("champion",)
    assert resolved.model_version.source == "s3://m/1"
    assert resolved.model_version.current_stage == "Production"


def test_resolve_not_found(client: RegistryClient, promoted: str) -> None:
    with pytest.raises(NotFound, match="no READY version in stage Archived"):
        client.resolve(f"models:/{promoted}/Archived")
    with pytest.raises(NotFound, match="version 9"):
        client.resolve(f"models:/{promoted}/9")
    with pytest.raises(NotFound, match="no alias 'ghost'"):
        client.resolve(f"models:/{promoted}@ghost")
    with pytest.raises(NotFound, match=r"registered model .* not found"):
        client.resolve(f"models:/{promoted}-missing/latest")


def test_resolve_latest_of_empty_model(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    with pytest.raises(NotFound, match="no READY version"):
        client.resolve(f"models:/{model_name}/latest")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "models:/",
        "models:/x",
        "s3://bucket/x",
        "models:/x/Prod",
        "models:/x@v1",
        "models:/x/1/../../etc/passwd",
        "models:/x'; DROP TABLE registered_models; --/1",
    ],
)
def test_resolve_malformed_is_invalid_argument(client: RegistryClient, bad: str) -> None:
    with pytest.raises((InvalidArgument, NotFound)) as info:
        client.resolve(bad)
    if "DROP" in bad:
        # A legal (if odd) name: simply not found, and nothing dropped.
        assert isinstance(info.value, NotFound)
    else:
        assert isinstance(info.value, InvalidArgument)
        assert "uri" in info.value.message
