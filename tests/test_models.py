"""Registered models: create, get, update, rename, delete, tags, latest versions."""

from __future__ import annotations

import pytest

from registry_client import AlreadyExists, InvalidArgument, NotFound, RegistryClient


def test_create_and_get(client: RegistryClient, model_name: str) -> None:
    created = client.create_registered_model(
        model_name, tags={"team": "risk", "tier": "1"}, description="fraud scores"
    )
    assert created.name == model_name
    assert created.description == "fraud scores"
    assert created.tags == {"team": "risk", "tier": "1"}
    assert created.created_by == "test-suite"
    assert created.last_version == 0
    assert created.creation_timestamp > 0
    fetched = client.get_registered_model(model_name)
    assert fetched.name == model_name
    assert fetched.tags == created.tags
    assert fetched.aliases == {}
    assert fetched.latest_versions == ()


def test_names_are_case_sensitive_and_unique(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    with pytest.raises(AlreadyExists, match="already exists"):
        client.create_registered_model(model_name)
    other = client.create_registered_model(model_name.upper())
    assert other.name == model_name.upper()


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "required"),
        ("a" * 257, "longer than 256"),
        (" lead", "whitespace"),
        ("trail ", "whitespace"),
        ("has/slash", "'/'"),
        ("has:colon", "':'"),
        ("has@at", "'@'"),
        ("tab\there", "control"),
    ],
)
def test_invalid_names_are_rejected(client: RegistryClient, bad: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match="name") as info:
        client.create_registered_model(bad)
    assert why in info.value.message
    if bad:
        with pytest.raises((NotFound, InvalidArgument)):
            client.get_registered_model(bad)


def test_name_limits_accept_the_edges(client: RegistryClient, model_name: str) -> None:
    name = (model_name + "x" * 256)[:256]
    assert client.create_registered_model(name).name == name
    unicode_name = f"модель ✓ {model_name}"
    assert (
        client.get_registered_model(client.create_registered_model(unicode_name).name).name
        == unicode_name
    )


def test_invalid_tags_and_description_write_nothing(
    client: RegistryClient, model_name: str
) -> None:
    with pytest.raises(InvalidArgument, match=r"tags\[0\]\.key"):
        client.create_registered_model(model_name, tags={"": "x"})
    with pytest.raises(InvalidArgument, match="key is longer than 250"):
        client.create_registered_model(model_name, tags={"k" * 251: "x"})
    with pytest.raises(InvalidArgument, match="value is larger than 65536"):
        client.create_registered_model(model_name, tags={"k": "v" * (64 * 1024 + 1)})
    with pytest.raises(InvalidArgument, match="description is larger"):
        client.create_registered_model(model_name, description="d" * (64 * 1024 + 1))
    with pytest.raises(NotFound):
        client.get_registered_model(model_name)
    # The exact limits are accepted.
    model = client.create_registered_model(
        model_name, tags={"k" * 250: "v" * 64 * 1024}, description="d" * 64 * 1024
    )
    assert model.tags["k" * 250] == "v" * 64 * 1024


def test_update_description(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name, description="old")
    updated = client.update_registered_model(model_name, "new")
    assert updated.description == "new"
    assert client.get_registered_model(model_name).description == "new"
    with pytest.raises(NotFound):
        client.update_registered_model(model_name + "-missing", "x")


def test_rename_moves_versions_aliases_tags(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name, tags={"team": "risk"})
    client.create_model_version(model_name, source="s3://b/1")
    client.create_model_version(model_name, source="s3://b/2")
    client.set_registered_model_alias(model_name, "champion", 2)
    client.set_model_version_tag(model_name, 1, "validated", "yes")
    new_name = model_name + "-renamed"
    renamed = client.rename_registered_model(model_name, new_name)
    assert renamed.name == new_name
    assert renamed.tags == {"team": "risk"}
    assert renamed.aliases == {"champion": 2}
    assert client.get_model_version(new_name, 1).tags == {"validated": "yes"}
    assert client.get_model_version_by_alias(new_name, "champion").version == 2
    assert client.resolve(f"models:/{new_name}@champion").model_version.version == 2
    with pytest.raises(NotFound):
        client.get_registered_model(model_name)
    # Numbering continues after a rename.
    assert client.create_model_version(new_name, source="s3://b/3").version == 3
    kinds = [e.kind for e in client.iter_model_events(new_name)]
    assert "model_renamed" in kinds and kinds[0] == "model_created"


def test_rename_errors(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_registered_model(model_name + "-other")
    with pytest.raises(AlreadyExists, match="new_name"):
        client.rename_registered_model(model_name, model_name + "-other")
    with pytest.raises(InvalidArgument, match="new_name"):
        client.rename_registered_model(model_name, "bad/name")
    with pytest.raises(NotFound):
        client.rename_registered_model(model_name + "-missing", model_name + "-x")
    assert client.get_registered_model(model_name).name == model_name


def test_delete_model_removes_everything(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name, tags={"a": "b"})
    client.create_model_version(model_name, source="s3://b/1", run_id="run-del")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.delete_registered_model(model_name)
    with pytest.raises(NotFound):
        client.get_registered_model(model_name)
    with pytest.raises(NotFound):
        client.get_model_version(model_name, 1)
    with pytest.raises(NotFound):
        client.resolve(f"models:/{model_name}@champion")
    assert client.find_model_versions_by_run("run-del") == []
    with pytest.raises(NotFound):
        client.delete_registered_model(model_name)
    # The name is free again and numbering starts over for the new model.
    client.create_registered_model(model_name)
    assert client.create_model_version(model_name, source="s3://b/new").version == 1


def test_model_tags(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.set_registered_model_tag(model_name, "team", "risk")
    client.set_registered_model_tag(model_name, "team", "fraud")
    client.set_registered_model_tag(model_name, "key with space", "")
    assert client.get_registered_model(model_name).tags == {
        "team": "fraud",
        "key with space": "",
    }
    client.delete_registered_model_tag(model_name, "team")
    assert client.get_registered_model(model_name).tags == {"key with space": ""}
    with pytest.raises(NotFound, match="no tag 'team'"):
        client.delete_registered_model_tag(model_name, "team")
    with pytest.raises(InvalidArgument, match="key"):
        client.set_registered_model_tag(model_name, "", "x")
    with pytest.raises(NotFound):
        client.set_registered_model_tag(model_name + "-missing", "k", "v")


def test_get_model_shows_aliases_and_latest_per_stage(
    client: RegistryClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    for i in range(1, 6):
        client.create_model_version(model_name, source=f"s3://b/{i}")
    client.transition_model_version_stage(model_name, 1, "production")
    client.transition_model_version_stage(model_name, 2, "Staging")
    client.transition_model_version_stage(model_name, 3, "STAGING")
    client.transition_model_version_stage(model_name, 4, "archived")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.set_registered_model_alias(model_name, "challenger", 3)
    model = client.get_registered_model(model_name)
    assert model.aliases == {"champion": 1, "challenger": 3}
    assert model.last_version == 5
    assert [(v.current_stage, v.version) for v in model.latest_versions] == [
        ("None", 5),
        ("Staging", 3),
        ("Production", 1),
        ("Archived", 4),
    ]


def test_get_latest_versions(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    for i in range(1, 4):
        client.create_model_version(model_name, source=f"s3://b/{i}")
    client.transition_model_version_stage(model_name, 1, "Production")
    client.transition_model_version_stage(model_name, 2, "Production")
    latest = client.get_latest_versions(model_name, stages=["production"])
    assert [(v.version, v.current_stage) for v in latest] == [(2, "Production")]
    everything = client.get_latest_versions(model_name)
    assert [(v.version, v.current_stage) for v in everything] == [
        (3, "None"),
        (2, "Production"),
    ]
    assert client.get_latest_versions(model_name, stages=["Staging"]) == []
    with pytest.raises(InvalidArgument, match=r"stages\[1\]"):
        client.get_latest_versions(model_name, stages=["Production", "Prod"])
    with pytest.raises(NotFound):
        client.get_latest_versions(model_name + "-missing")
