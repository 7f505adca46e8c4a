"""Model versions: numbering, fields, lineage, tags, update, delete, lookup by run."""

from __future__ import annotations

import pytest

from registry_client import (
    Dataset,
    InvalidArgument,
    Lineage,
    NotFound,
    RegistryClient,
)


def test_versions_are_numbered_per_model(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_registered_model(model_name + "-b")
    assert [client.create_model_version(model_name, source="s3://a").version for _ in range(3)] == [
        1,
        2,
        3,
    ]
    assert client.create_model_version(model_name + "-b", source="s3://b").version == 1
    assert client.get_registered_model(model_name).last_version == 3


def test_numbers_are_never_reused_after_delete(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    for _ in range(3):
        client.create_model_version(model_name, source="s3://a")
    client.delete_model_version(model_name, 3)
    client.delete_model_version(model_name, 2)
    assert client.create_model_version(model_name, source="s3://a").version == 4
    with pytest.raises(NotFound, match="version 3"):
        client.get_model_version(model_name, 3)


def test_version_fields_and_lineage_round_trip(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    lineage = Lineage(
        run_id="run-42",
        run_link="https://tracking/runs/42",
        experiment_id="exp-7",
        code_version="3f2a9c1",
        datasets=(
            Dataset(name="transactions-q1", digest="sha256:aa", source_uri="s3://data/q1"),
            Dataset(name="labels", digest="sha256:bb"),
        ),
    )
    created = client.create_model_version(
        model_name,
        source="s3://models/fraud/42",
        tags={"framework": "xgboost"},
        description="first cut",
        lineage=lineage,
    )
    assert created.version == 1
    assert created.current_stage == "None"
    assert created.status == "READY"
    assert created.source == "s3://models/fraud/42"
    assert created.description == "first cut"
    assert created.tags == {"framework": "xgboost"}
    assert created.run_id == "run-42"
    assert created.lineage == lineage
    assert created.created_by == "test-suite"
    assert created.aliases == ()
    fetched = client.get_model_version(model_name, 1)
    assert fetched.lineage == lineage
    assert fetched.tags == {"framework": "xgboost"}
    assert fetched.creation_timestamp == created.creation_timestamp


def test_mlflow_style_run_fields(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    v = client.create_model_version(
        model_name, source="s3://a", run_id="r-1", run_link="http://ui/r-1"
    )
    assert v.run_id == "r-1"
    assert v.lineage.run_id == "r-1"
    assert v.lineage.run_link == "http://ui/r-1"
    with pytest.raises(InvalidArgument, match=r"run_id and lineage\.run_id differ"):
        client.create_model_version(
            model_name, source="s3://a", run_id="r-1", lineage=Lineage(run_id="r-2")
        )


def test_parent_lineage_is_pinned_and_follows_renames(
    client: RegistryClient, model_name: str
) -> None:
    base = model_name + "-base"
    client.create_registered_model(base)
    client.create_model_version(base, source="s3://base/1")
    client.create_model_version(base, source="s3://base/2")
    client.set_registered_model_alias(base, "champion", 2)
    client.create_registered_model(model_name)
    child = client.create_model_version(
        model_name,
        source="s3://child",
        lineage=Lineage(parent_model_uri=f"models:/{base}@champion"),
    )
    # The alias is pinned to the exact version it pointed at.
    assert child.lineage.parent_model_uri == f"models:/{base}/2"
    client.set_registered_model_alias(base, "champion", 1)
    assert client.get_model_version(model_name, 1).lineage.parent_model_uri == (f"models:/{base}/2")
    client.rename_registered_model(base, base + "-v2")
    assert client.get_model_version(model_name, 1).lineage.parent_model_uri == (
        f"models:/{base}-v2/2"
    )
    with pytest.raises(NotFound, match=r"lineage\.parent_model_uri"):
        client.create_model_version(
            model_name, source="s3://c", lineage=Lineage(parent_model_uri=f"models:/{base}/1")
        )
    with pytest.raises(InvalidArgument, match="malformed"):
        client.create_model_version(
            model_name, source="s3://c", lineage=Lineage(parent_model_uri="runs:/abc/model")
        )
    assert client.get_registered_model(model_name).last_version == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": "s" * 4097}, "source"),
        ({"description": "d" * (64 * 1024 + 1)}, "description"),
        ({"tags": {"": "x"}}, "tags[0].key"),
        ({"lineage": Lineage(run_id="r" * 257)}, "lineage.run_id"),
        ({"lineage": Lineage(code_version="c" * 257)}, "lineage.code_version"),
        ({"lineage": Lineage(datasets=(Dataset(name=""),))}, "lineage.datasets[0]"),
        ({"lineage": Lineage(datasets=(Dataset(name="x" * 257),))}, "lineage.datasets[0].name"),
        ({"idempotency_key": "k" * 257}, "idempotency_key"),
    ],
)
def test_invalid_version_fields_write_nothing(
    client: RegistryClient, model_name: str, kwargs: dict, field: str
) -> None:
    client.create_registered_model(model_name)
    kwargs.setdefault("source", "s3://ok")
    with pytest.raises(InvalidArgument) as info:
        client.create_model_version(model_name, **kwargs)
    assert info.value.message.startswith(field), info.value.message
    model = client.get_registered_model(model_name)
    assert model.last_version == 0
    assert [e.kind for e in client.iter_model_events(model_name)] == ["model_created"]


def test_create_version_for_missing_model(client: RegistryClient, model_name: str) -> None:
    with pytest.raises(NotFound, match="not found"):
        client.create_model_version(model_name, source="s3://a")


def test_get_version_errors(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    with pytest.raises(NotFound, match="version 1 of registered model"):
        client.get_model_version(model_name, 1)
    with pytest.raises(NotFound, match=r"registered model .* not found"):
        client.get_model_version(model_name + "-missing", 1)
    with pytest.raises(InvalidArgument, match="version must be a positive integer"):
        client.get_model_version(model_name, 0)
    with pytest.raises(InvalidArgument, match="version"):
        client.get_model_version(model_name, -3)


def test_update_version_description(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a", description="old")
    updated = client.update_model_version(model_name, 1, "new")
    assert updated.description == "new"
    assert updated.last_updated_timestamp >= updated.creation_timestamp
    assert client.get_model_version(model_name, 1).description == "new"
    with pytest.raises(NotFound):
        client.update_model_version(model_name, 2, "x")


def test_version_tags(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a", tags={"a": "1"})
    client.set_model_version_tag(model_name, 1, "b", "2")
    client.set_model_version_tag(model_name, 1, "a", "changed")
    assert client.get_model_version(model_name, 1).tags == {"a": "changed", "b": "2"}
    client.delete_model_version_tag(model_name, 1, "a")
    assert client.get_model_version(model_name, 1).tags == {"b": "2"}
    with pytest.raises(NotFound, match="no tag 'a'"):
        client.delete_model_version_tag(model_name, 1, "a")
    with pytest.raises(NotFound):
        client.set_model_version_tag(model_name, 9, "a", "1")
    with pytest.raises(InvalidArgument, match="value is larger"):
        client.set_model_version_tag(model_name, 1, "big", "x" * (64 * 1024 + 1))


def test_delete_version_removes_its_aliases(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.create_model_version(model_name, source="s3://b")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.set_registered_model_alias(model_name, "stable", 1)
    client.set_registered_model_alias(model_name, "challenger", 2)
    client.delete_model_version(model_name, 1)
    assert client.get_registered_model(model_name).aliases == {"challenger": 2}
    with pytest.raises(NotFound, match="no alias 'champion'"):
        client.get_model_version_by_alias(model_name, "champion")
    events = list(client.iter_model_events(model_name))
    deleted_aliases = sorted(e.before["alias"] for e in events if e.kind == "alias_deleted")
    assert deleted_aliases == ["champion", "stable"]
    assert events[-1].kind == "version_deleted" and events[-1].version == 1
    with pytest.raises(NotFound):
        client.delete_model_version(model_name, 1)


def test_find_versions_by_run(client: RegistryClient, model_name: str) -> None:
    run_id = f"run-{model_name}"
    client.create_registered_model(model_name)
    client.create_registered_model(model_name + "-b")
    client.create_model_version(model_name, source="s3://a", run_id=run_id)
    client.create_model_version(model_name, source="s3://a", run_id="other")
    client.create_model_version(model_name + "-b", source="s3://b", lineage=Lineage(run_id=run_id))
    found = client.find_model_versions_by_run(run_id)
    assert sorted((v.name, v.version) for v in found) == [
        (model_name, 1),
        (model_name + "-b", 1),
    ]
    assert client.find_model_versions_by_run("no-such-run") == []
    with pytest.raises(InvalidArgument, match="run_id"):
        client.find_model_versions_by_run("")
