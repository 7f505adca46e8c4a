"""The audit history: every change recorded, in order, with actor and before/after."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from registry_client import InvalidArgument, NotFound, RegistryClient
from registry_server.store import events as event_store
from registry_server.store.schema import metadata

PROTO = (
    Path(__file__).resolve().parent.parent / "protos" / "modelregistry" / "v1" / "registry.proto"
)


def test_every_change_is_recorded_in_order(
    client: RegistryClient, target: str, model_name: str
) -> None:
    client.create_registered_model(model_name, tags={"team": "risk"})
    client.update_registered_model(model_name, "desc")
    client.set_registered_model_tag(model_name, "team", "fraud")
    client.delete_registered_model_tag(model_name, "team")
    client.create_model_version(model_name, source="s3://a", run_id="r1")
    client.update_model_version(model_name, 1, "v1 desc")
    client.set_model_version_tag(model_name, 1, "k", "v")
    client.delete_model_version_tag(model_name, 1, "k")
    with RegistryClient(target, actor="release-bot") as bot:
        bot.transition_model_version_stage(model_name, 1, "Production")
        bot.set_registered_model_alias(model_name, "champion", 1)
    client.delete_registered_model_alias(model_name, "champion")
    events = list(client.iter_model_events(model_name))
    assert [e.kind for e in events] == [
        "model_created",
        "model_updated",
        "model_tag_set",
        "model_tag_deleted",
        "version_created",
        "version_updated",
        "version_tag_set",
        "version_tag_deleted",
        "version_stage_changed",
        "alias_set",
        "alias_deleted",
    ]
    ids = [e.event_id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    by_kind = {e.kind: e for e in events}
    assert by_kind["model_updated"].before == {"description": ""}
    assert by_kind["model_updated"].after == {"description": "desc"}
    assert by_kind["model_tag_set"].before == {"key": "team", "value": "risk"}
    assert by_kind["model_tag_set"].after == {"key": "team", "value": "fraud"}
    stage = by_kind["version_stage_changed"]
    assert (stage.before, stage.after, stage.version) == (
        {"stage": "None"},
        {"stage": "Production"},
        1,
    )
    assert stage.actor == "release-bot"
    assert by_kind["alias_set"].actor == "release-bot"
    assert by_kind["model_created"].actor == "test-suite"
    assert by_kind["model_created"].version is None
    assert by_kind["version_created"].after["run_id"] == "r1"
    assert all(e.model_name == model_name for e in events)
    assert all(e.timestamp > 0 for e in events)


def test_pagination(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    for i in range(7):
        client.set_registered_model_tag(model_name, f"k{i}", "v")
    first = client.list_model_events(model_name, page_size=3)
    assert len(first.events) == 3 and first.next_after_event_id == first.events[-1].event_id
    second = client.list_model_events(
        model_name, after_event_id=first.next_after_event_id, page_size=3
    )
    third = client.list_model_events(
        model_name, after_event_id=second.next_after_event_id, page_size=3
    )
    assert len(third.events) == 2 and third.next_after_event_id == 0
    all_ids = [e.event_id for page in (first, second, third) for e in page.events]
    assert all_ids == [e.event_id for e in client.iter_model_events(model_name)]
    with pytest.raises(InvalidArgument, match="page_size"):
        client.list_model_events(model_name, page_size=1001)
    with pytest.raises(InvalidArgument, match="after_event_id"):
        client.list_model_events(model_name, after_event_id=-1)


def test_history_survives_rename_and_delete(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    renamed = model_name + "-new"
    client.rename_registered_model(model_name, renamed)
    kinds = [e.kind for e in client.iter_model_events(renamed)]
    assert kinds == ["model_created", "version_created", "model_renamed"]
    client.delete_registered_model(renamed)
    after_delete = list(client.iter_model_events(renamed))
    assert [e.kind for e in after_delete][-1] == "model_deleted"
    assert after_delete[-1].before["last_version"] == 1
    with pytest.raises(NotFound, match="no history"):
        client.list_model_events(model_name + "-never")


def test_rejected_calls_record_nothing(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    before = [e.event_id for e in client.iter_model_events(model_name)]
    for bad in (
        lambda: client.set_registered_model_alias(model_name, "latest", 1),
        lambda: client.transition_model_version_stage(model_name, 1, "Nope"),
        lambda: client.set_model_version_tag(model_name, 5, "k", "v"),
        lambda: client.delete_registered_model_tag(model_name, "missing"),
        lambda: client.set_registered_model_alias(model_name, "c", 1, expected_version=3),
    ):
        with pytest.raises((InvalidArgument, NotFound, Exception)):
            bad()
    assert [e.event_id for e in client.iter_model_events(model_name)] == before


def _documented_kinds() -> set[str]:
    """The kinds listed in the ModelEvent.kind comment of the proto."""
    text = PROTO.read_text()
    comment = re.search(r"// What happened, one of:(.*?)\n\s*string kind", text, flags=re.S)
    assert comment is not None
    return set(re.findall(r"[a-z_]+", comment.group(1).replace("//", "")))


def test_every_kind_is_documented_recorded_and_filterable(
    client: RegistryClient, model_name: str
) -> None:
    assert _documented_kinds() == event_store.EVENT_KINDS
    client.create_registered_model(model_name)
    client.update_registered_model(model_name, "d")
    client.set_registered_model_tag(model_name, "k", "v")
    client.delete_registered_model_tag(model_name, "k")
    client.create_model_version(model_name, source="s3://a")
    client.import_model_version(model_name, 9, creation_timestamp=1, source="s3://imported")
    client.update_model_version(model_name, 1, "d")
    client.set_model_version_tag(model_name, 1, "k", "v")
    client.delete_model_version_tag(model_name, 1, "k")
    client.transition_model_version_stage(model_name, 1, "Staging")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.delete_registered_model_alias(model_name, "champion")
    pending = client.create_model_version(model_name, registry_held_artifacts=True)
    client.abort_model_version(model_name, pending.version, "test")
    client.delete_model_version(model_name, 1)
    client.set_model_protection(model_name, protected_aliases=["champion"])
    client.set_model_grant(model_name, "ci", "writer")
    client.delete_model_grant(model_name, "ci")
    renamed = model_name + "-renamed"
    client.rename_registered_model(model_name, renamed)
    client.delete_registered_model(renamed)

    # Token and webhook events concern no model and refusals need
    # authentication: tests/test_access_*.py and tests/test_webhooks.py.
    model_kinds = event_store.EVENT_KINDS - {
        "token_created",
        "token_revoked",
        "webhook_created",
        "webhook_updated",
        "webhook_deleted",
        "access_denied",
    }
    recorded = [e.kind for e in client.iter_model_events(renamed)]
    assert set(recorded) == model_kinds
    for kind in sorted(model_kinds):
        found = client.list_model_events(renamed, kinds=[kind]).events
        assert [e.kind for e in found] == [k for k in recorded if k == kind]


def test_unknown_kinds_are_never_written() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn, pytest.raises(ValueError, match="unknown event kind"):
        event_store.insert(
            conn,
            [event_store.row(model_id=1, model_name="m", kind="model_exploded", actor="a", now=1)],  # type: ignore[arg-type]
        )
    engine.dispose()
