"""The import RPCs through the real server and client, on SQLite and PostgreSQL: they only
ever create. A version keeps the number it is given, the counter becomes the highest,
the same version imported again changes nothing, and a different one is never rewritten.
(The MLflow importer built on them is tested against a real MLflow in
test_import_mlflow.py; who may call them, in test_access_matrix.py.)"""

from __future__ import annotations

import pytest

from registry_client import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RegistryClient,
)

T0 = 1_600_000_000_000


def _import(client: RegistryClient, name: str, number: int, **fields: object) -> object:
    values: dict[str, object] = {
        "creation_timestamp": T0 + number,
        "source": f"s3://mlflow/{name}/{number}",
        "run_id": f"run-{number}",
        "created_by": "alice",
    }
    values.update(fields)
    return client.import_model_version(name, number, **values)  # type: ignore[arg-type]


def _last_event_id(client: RegistryClient, name: str) -> int:
    events = client.list_model_events(name, page_size=1000).events
    return events[-1].event_id if events else 0


def test_a_model_is_created_with_its_original_times_once(
    client: RegistryClient, model_name: str
) -> None:
    first = client.import_registered_model(
        model_name,
        creation_timestamp=T0,
        last_updated_timestamp=T0 + 5,
        description="from MLflow",
        tags={"team": "risk"},
        created_by="alice",
        imported_from="http://mlflow",
    )
    assert first.created
    model = first.registered_model
    assert (model.creation_timestamp, model.last_updated_timestamp) == (T0, T0 + 5)
    assert (model.description, model.tags, model.created_by) == (
        "from MLflow",
        {"team": "risk"},
        "alice",
    )
    (event,) = client.list_model_events(model_name).events
    assert event.kind == "imported"
    assert event.after["imported"] == "registered_model"
    assert event.after["original_creation_timestamp"] == T0
    assert event.timestamp > T0  # when it was imported, not when it was created

    again = client.import_registered_model(model_name, creation_timestamp=1, description="other")
    assert not again.created
    assert again.registered_model.description == "from MLflow"
    assert len(client.list_model_events(model_name).events) == 1


def test_versions_keep_their_numbers_and_the_counter_continues_after_the_highest(
    client: RegistryClient, model_name: str
) -> None:
    client.import_registered_model(model_name, creation_timestamp=T0)
    for number in (5, 1, 3):
        done = _import(
            client,
            model_name,
            number,
            stage="production" if number == 3 else "",
            tags={"n": str(number)},
        )
        assert not done.already_imported  # type: ignore[attr-defined]
    mv = client.get_model_version(model_name, 3)
    assert (mv.creation_timestamp, mv.created_by, mv.current_stage) == (
        T0 + 3,
        "alice",
        "Production",
    )
    assert (mv.source, mv.run_id, mv.tags) == (f"s3://mlflow/{model_name}/3", "run-3", {"n": "3"})
    with pytest.raises(NotFound):
        client.get_model_version(model_name, 2)
    assert client.get_registered_model(model_name).last_version == 5
    assert client.create_model_version(model_name, source="s3://native").version == 6
    state = client.get_model_state_as_of(model_name, 2**62)
    assert [(v.version, v.current_stage) for v in state.versions] == [
        (1, "None"),
        (3, "Production"),
        (5, "None"),
        (6, "None"),
    ]


def test_the_same_version_again_changes_nothing_and_a_different_one_is_refused(
    client: RegistryClient, model_name: str
) -> None:
    client.import_registered_model(model_name, creation_timestamp=T0)
    _import(client, model_name, 2, description="first")
    client.update_model_version(model_name, 2, "edited here since")
    cursor = _last_event_id(client, model_name)

    again = _import(client, model_name, 2, description="first")
    assert again.already_imported  # type: ignore[attr-defined]
    assert again.model_version.description == "edited here since"  # type: ignore[attr-defined]
    with pytest.raises(AlreadyExists, match="different version"):
        _import(client, model_name, 2, source="s3://elsewhere")
    with pytest.raises(AlreadyExists, match="creation_timestamp"):
        _import(client, model_name, 2, creation_timestamp=T0 + 99)
    assert _last_event_id(client, model_name) == cursor
    assert client.get_model_version(model_name, 2).source == f"s3://mlflow/{model_name}/2"


def test_a_number_used_and_deleted_here_is_never_reused(
    client: RegistryClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    for _ in range(3):
        client.create_model_version(model_name, source="s3://native")
    client.delete_model_version(model_name, 2)
    with pytest.raises(FailedPrecondition, match="never reused"):
        _import(client, model_name, 2)
    # A native version with the number is a different version.
    with pytest.raises(AlreadyExists):
        _import(client, model_name, 3)
    assert _import(client, model_name, 4).model_version.version == 4  # type: ignore[attr-defined]


def test_aliases_are_created_never_moved(client: RegistryClient, model_name: str) -> None:
    client.import_registered_model(model_name, creation_timestamp=T0)
    _import(client, model_name, 1)
    _import(client, model_name, 2)
    done = client.import_registered_model_alias(model_name, "champion", 2)
    assert not done.already_imported and done.model_version.aliases == ("champion",)
    assert client.import_registered_model_alias(model_name, "champion", 2).already_imported
    with pytest.raises(FailedPrecondition, match="never moves"):
        client.import_registered_model_alias(model_name, "champion", 1)
    assert client.get_model_version_by_alias(model_name, "champion").version == 2
    (event,) = client.list_model_events(model_name, alias="champion").events
    assert (event.kind, event.after["version"]) == ("imported", 2)


def test_pending_versions_and_bad_times_are_refused(
    client: RegistryClient, model_name: str
) -> None:
    client.import_registered_model(model_name, creation_timestamp=T0)
    with pytest.raises(InvalidArgument, match="pending"):
        _import(client, model_name, 1, status="PENDING_REGISTRATION")
    with pytest.raises(InvalidArgument, match="creation_timestamp"):
        _import(client, model_name, 1, creation_timestamp=0)
    failed = _import(client, model_name, 1, status="FAILED_REGISTRATION", status_message="broke")
    assert failed.model_version.status == "FAILED_REGISTRATION"  # type: ignore[attr-defined]
