"""History queries through the real server and public client, on both backends:
ListModelEvents filters and pagination, and GetModelStateAsOf rebuilding a
model's stages and aliases at past moments.

Tests share one server per backend, so cross-model listings narrow by an actor
no other test uses. Timestamps are ms from the wall clock the in-process
server shares with the test; where a test needs two changes in distinct
milliseconds it waits for the clock to pass the first change's own
timestamp (at most about a millisecond), never a fixed sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.waiting import clock_past

from registry_client import (
    InvalidArgument,
    ModelEvent,
    ModelStateAsOf,
    NotFound,
    RegistryClient,
)

# ----------------------------------------------------------------- helpers


def _last_event(client: RegistryClient, name: str) -> ModelEvent:
    return list(client.iter_model_events(name))[-1]


def _tick(client: RegistryClient, name: str) -> ModelEvent:
    """The model's newest event, after which the clock has moved on."""
    event = _last_event(client, name)
    clock_past(event.timestamp)
    return event


@pytest.fixture
def bot(target: str) -> Iterator[RegistryClient]:
    """A client with an actor no other test uses."""
    with RegistryClient(target, actor=f"bot-{uuid.uuid4().hex[:10]}") as c:
        yield c


def _names(field_pattern: str) -> str:
    """An error message that starts with the field, after the status code."""
    return "^INVALID_ARGUMENT: " + field_pattern


def _kinds(events: object) -> list[str]:
    return [e.kind for e in events]  # type: ignore[attr-defined]


def _stages(state: ModelStateAsOf) -> dict[int, str]:
    return {v.version: v.current_stage for v in state.versions}


# ------------------------------------------------------ ListModelEvents filters


def test_filter_by_version(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.create_model_version(model_name, source="s3://b")
    client.set_model_version_tag(model_name, 1, "k", "v")
    client.transition_model_version_stage(model_name, 2, "Staging")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.update_registered_model(model_name, "model-level, no version")

    one = list(client.iter_model_events(model_name, version=1))
    assert _kinds(one) == ["version_created", "version_tag_set", "alias_set"]
    assert {e.version for e in one} == {1}
    two = client.list_model_events(model_name, version="2")
    assert _kinds(two.events) == ["version_created", "version_stage_changed"]
    assert client.list_model_events(model_name, version=9).events == ()

    with pytest.raises(InvalidArgument, match=_names(r"version: .*requires name")):
        client.list_model_events(version=1)
    with pytest.raises(InvalidArgument, match=_names(r"version")):
        client.list_model_events(model_name, version=-1)


def test_filter_by_alias(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    for _ in range(3):
        client.create_model_version(model_name, source="s3://a")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.set_registered_model_alias(model_name, "challenger", 2)
    client.set_registered_model_alias(model_name, "champion", 2)
    client.set_registered_model_alias(model_name, "champion", 3)
    client.delete_model_version(model_name, 3)  # removes @champion with it
    client.delete_registered_model_alias(model_name, "challenger")

    champion = list(client.iter_model_events(model_name, alias="champion"))
    assert _kinds(champion) == ["alias_set", "alias_set", "alias_set", "alias_deleted"]
    assert [e.after.get("version") for e in champion[:3]] == [1, 2, 3]
    assert champion[-1].before == {"alias": "champion", "version": 3}
    assert champion[-1].after == {"reason": "version deleted"}
    challenger = list(client.iter_model_events(model_name, alias="challenger"))
    assert _kinds(challenger) == ["alias_set", "alias_deleted"]
    assert client.list_model_events(model_name, alias="nobody").events == ()

    with pytest.raises(InvalidArgument, match=_names(r"alias")):
        client.list_model_events(model_name, alias="latest")
    with pytest.raises(InvalidArgument, match=_names(r"alias")):
        client.list_model_events(model_name, alias="bad alias!")


def test_filter_by_alias_across_models(bot: RegistryClient, model_name: str) -> None:
    alias = f"a-{uuid.uuid4().hex[:12]}"  # no other test uses it
    for suffix in ("-x", "-y"):
        bot.create_registered_model(model_name + suffix)
        bot.create_model_version(model_name + suffix, source="s3://a")
        bot.set_registered_model_alias(model_name + suffix, alias, 1)
        bot.set_registered_model_alias(model_name + suffix, "other", 1)
    found = list(bot.iter_model_events(alias=alias))
    assert [(e.kind, e.model_name) for e in found] == [
        ("alias_set", model_name + "-x"),
        ("alias_set", model_name + "-y"),
    ]


def test_filter_by_kinds(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.transition_model_version_stage(model_name, 1, "Staging")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.set_model_version_tag(model_name, 1, "k", "v")

    found = client.list_model_events(
        model_name, kinds=["alias_set", "version_stage_changed", "alias_set"]
    )
    assert _kinds(found.events) == ["version_stage_changed", "alias_set"]
    assert _kinds(client.list_model_events(model_name, kinds=["model_created"]).events) == [
        "model_created"
    ]
    assert client.list_model_events(model_name, kinds=["model_deleted"]).events == ()

    with pytest.raises(InvalidArgument, match=_names(r"kinds\[1\]: 'stage_changed' is not")):
        client.list_model_events(model_name, kinds=["alias_set", "stage_changed"])
    with pytest.raises(InvalidArgument, match=_names(r"kinds")):
        client.list_model_events(model_name, kinds=["ALIAS_SET"])


def test_filter_by_actor_on_one_model_and_across_models(
    client: RegistryClient, bot: RegistryClient, model_name: str
) -> None:
    other = model_name + "-other"
    client.create_registered_model(model_name)
    bot.create_registered_model(other)
    client.create_model_version(model_name, source="s3://a")
    bot.set_registered_model_tag(model_name, "owner", "bot")
    bot.create_model_version(other, source="s3://b")
    client.set_registered_model_tag(other, "owner", "suite")
    bot.transition_model_version_stage(model_name, 1, "Staging")

    mine = list(client.iter_model_events(model_name, actor=bot.actor))
    assert _kinds(mine) == ["model_tag_set", "version_stage_changed"]
    everywhere = list(client.iter_model_events(actor=bot.actor))
    assert [(e.model_name, e.kind) for e in everywhere] == [
        (other, "model_created"),
        (model_name, "model_tag_set"),
        (other, "version_created"),
        (model_name, "version_stage_changed"),
    ]
    assert all(e.actor == bot.actor for e in everywhere)
    ids = [e.event_id for e in everywhere]
    assert ids == sorted(ids)
    assert client.list_model_events(actor="nobody-" + uuid.uuid4().hex).events == ()
    with pytest.raises(InvalidArgument, match=_names(r"actor")):
        client.list_model_events(actor="x" * 300)


def test_filter_by_time_range(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    stamps = [_tick(client, model_name).timestamp]
    for i in range(3):
        client.set_registered_model_tag(model_name, "step", str(i))
        stamps.append(_tick(client, model_name).timestamp)
    assert stamps == sorted(set(stamps))  # four distinct milliseconds

    def steps(**kw: object) -> list[str]:
        return [
            e.after.get("value", "created")
            for e in client.iter_model_events(model_name, **kw)  # type: ignore[arg-type]
        ]

    assert steps(since=stamps[1]) == ["0", "1", "2"]  # since is inclusive
    assert steps(until=stamps[2]) == ["created", "0"]  # until is exclusive
    assert steps(since=stamps[1], until=stamps[3]) == ["0", "1"]
    assert steps(since=stamps[1], until=stamps[1] + 1) == ["0"]
    assert steps(since=stamps[3] + 1) == []
    # Aware datetimes work too (the client sends epoch ms).
    as_dt = datetime.fromtimestamp(stamps[2] / 1000, UTC)
    assert steps(since=as_dt) == ["1", "2"]

    with pytest.raises(InvalidArgument, match=_names(r"since_timestamp")):
        client.list_model_events(model_name, since=-5)
    with pytest.raises(InvalidArgument, match=_names(r"until_timestamp")):
        client.list_model_events(model_name, until=-5)
    with pytest.raises(InvalidArgument, match=r"until_timestamp .*since_timestamp"):
        client.list_model_events(model_name, since=stamps[2], until=stamps[2])
    with pytest.raises(InvalidArgument, match=r"until_timestamp .*since_timestamp"):
        client.list_model_events(model_name, since=stamps[2], until=stamps[1])


def test_filters_combine_and_paginate(
    client: RegistryClient, bot: RegistryClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.create_model_version(model_name, source="s3://b")
    start = _tick(client, model_name).timestamp
    for i in range(4):
        bot.set_registered_model_alias(model_name, "champion", 1 + i % 2)
        client.set_registered_model_alias(model_name, "shadow", 1 + i % 2)
        bot.set_model_version_tag(model_name, 1, "round", str(i))
        bot.set_registered_model_alias(model_name, "canary", 1 + i % 2)

    wanted = list(
        client.iter_model_events(
            model_name, kinds=["alias_set"], actor=bot.actor, alias="champion", since=start
        )
    )
    assert len(wanted) == 4
    assert all(
        (e.kind, e.actor, e.after["alias"]) == ("alias_set", bot.actor, "champion") for e in wanted
    )
    # The same set, two at a time: the cursor is the last event returned and
    # a page that ends exactly at the last match says there is no more.
    pages = []
    cursor = 0
    while True:
        page = client.list_model_events(
            model_name,
            kinds=["alias_set"],
            actor=bot.actor,
            alias="champion",
            since=start,
            page_size=2,
            after_event_id=cursor,
        )
        pages.append(page)
        if not page.next_after_event_id:
            break
        assert page.next_after_event_id == page.events[-1].event_id
        cursor = page.next_after_event_id
    assert [len(p.events) for p in pages] == [2, 2]
    assert [e.event_id for p in pages for e in p.events] == [e.event_id for e in wanted]
    # Per-version and per-actor together, through iter_model_events one at a
    # time: each round tags version 1; rounds 0 and 2 also point champion and
    # canary at it (alias events carry the version they now point at).
    v1_by_bot = list(client.iter_model_events(model_name, version=1, actor=bot.actor, page_size=1))
    round_with_aliases = ["alias_set", "version_tag_set", "alias_set"]
    assert _kinds(v1_by_bot) == 2 * [*round_with_aliases, "version_tag_set"]


def test_page_size_default_and_bounds(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    for i in range(100):
        client.set_registered_model_tag(model_name, f"k{i}", "v")
    first = client.list_model_events(model_name)  # 0 -> 100 per page
    assert len(first.events) == 100 and first.next_after_event_id == first.events[-1].event_id
    rest = client.list_model_events(model_name, after_event_id=first.next_after_event_id)
    assert len(rest.events) == 1 and rest.next_after_event_id == 0
    assert len(client.list_model_events(model_name, page_size=1000).events) == 101
    with pytest.raises(InvalidArgument, match="page_size"):
        client.list_model_events(model_name, page_size=-1)


def test_deleted_model_history_with_filters(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.delete_registered_model(model_name)

    assert _kinds(client.list_model_events(model_name, kinds=["model_deleted"]).events) == [
        "model_deleted"
    ]
    assert _kinds(client.list_model_events(model_name, version=1).events) == [
        "version_created",
        "alias_set",
    ]
    # A filter matching nothing is an empty page, not NOT_FOUND...
    assert client.list_model_events(model_name, alias="gone").events == ()
    # ...but a name with no model and no history is NOT_FOUND, filters or not.
    with pytest.raises(NotFound, match="no history"):
        client.list_model_events(model_name + "-never", kinds=["alias_set"])

    # A new model under the same name: the live model's history wins.
    client.create_registered_model(model_name)
    assert _kinds(client.iter_model_events(model_name)) == ["model_created"]


# ------------------------------------------------------------ GetModelStateAsOf


def _live_matches_rebuilt(client: RegistryClient, name: str, numbers: range) -> ModelStateAsOf:
    """The state as of the model's newest event equals what the tables say."""
    last = _last_event(client, name)
    state = client.get_model_state_as_of(name, last.timestamp)
    assert state.name == name
    assert state.last_event_id == last.event_id
    live = {}
    for number in numbers:
        try:
            v = client.get_model_version(name, number)
        except NotFound:
            continue
        live[number] = (v.current_stage, v.status)
    assert {v.version: (v.current_stage, v.status) for v in state.versions} == live
    assert [v.version for v in state.versions] == sorted(live)
    assert dict(state.aliases) == client.get_registered_model(name).aliases
    assert list(state.aliases) == sorted(state.aliases)
    return state


def test_state_now_equals_live_state(
    client: RegistryClient, model_name: str, tmp_path: Path
) -> None:
    name = model_name
    client.create_registered_model(name)
    for i in range(4):
        client.create_model_version(name, source=f"s3://m/{i}")
    client.transition_model_version_stage(name, 1, "Staging")
    client.transition_model_version_stage(name, 1, "Production")
    client.transition_model_version_stage(name, 2, "Staging", archive_existing_versions=True)
    client.transition_model_version_stage(name, 2, "Production", archive_existing_versions=True)
    client.transition_model_version_stage(name, 3, "Staging")
    client.transition_model_version_stage(name, 4, "Staging", archive_existing_versions=True)
    client.set_registered_model_alias(name, "champion", 1)
    client.set_registered_model_alias(name, "champion", 2)
    client.set_registered_model_alias(name, "challenger", 4)
    client.set_registered_model_alias(name, "old", 1)
    client.set_registered_model_alias(name, "doomed", 3)
    client.delete_model_version(name, 3)  # takes @doomed with it
    client.delete_registered_model_alias(name, "old")
    client.set_model_version_tag(name, 2, "k", "v")  # not part of the state
    renamed = name + "-renamed"
    client.rename_registered_model(name, renamed)
    client.transition_model_version_stage(renamed, 4, "Production", archive_existing_versions=True)
    client.set_registered_model_alias(renamed, "champion", 4)
    pending = client.create_model_version(renamed, registry_held_artifacts=True)
    failed = client.create_model_version(renamed, registry_held_artifacts=True)
    client.abort_model_version(renamed, failed.version, "bad files")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(b"weights")
    held = client.log_model_version(renamed, tmp_path / "m")
    client.set_registered_model_alias(renamed, "held", held.version)

    state = _live_matches_rebuilt(client, renamed, range(1, held.version + 1))
    assert _stages(state) == {
        1: "Archived",
        2: "Archived",
        4: "Production",
        pending.version: "None",
        failed.version: "None",
        held.version: "None",
    }
    statuses = {v.version: v.status for v in state.versions}
    assert statuses[pending.version] == "PENDING_REGISTRATION"
    assert statuses[failed.version] == "FAILED_REGISTRATION"
    assert statuses[held.version] == "READY"
    assert dict(state.aliases) == {"champion": 4, "challenger": 4, "held": held.version}
    assert state.version_in_stage("production") == 4


def test_state_between_two_promotions_is_the_earlier_one(
    client: RegistryClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.create_model_version(model_name, source="s3://b")
    client.transition_model_version_stage(model_name, 1, "Production")
    client.set_registered_model_alias(model_name, "champion", 1)
    first = _tick(client, model_name)
    client.transition_model_version_stage(
        model_name, 2, "Production", archive_existing_versions=True
    )
    client.set_registered_model_alias(model_name, "champion", 2)
    second = _last_event(client, model_name)
    promoted = [
        e
        for e in client.iter_model_events(model_name, kinds=["version_stage_changed"])
        if e.after["stage"] == "Production"
    ][-1]
    assert first.timestamp < promoted.timestamp <= second.timestamp

    for moment in (first.timestamp, promoted.timestamp - 1):
        before = client.get_model_state_as_of(model_name, moment)
        assert before.version_in_stage("Production") == 1
        assert _stages(before) == {1: "Production", 2: "None"}
        assert dict(before.aliases) == {"champion": 1}
        assert before.last_event_id == first.event_id
        assert before.as_of_timestamp == moment
    after = client.get_model_state_as_of(model_name, second.timestamp)
    assert _stages(after) == {1: "Archived", 2: "Production"}
    assert dict(after.aliases) == {"champion": 2}
    assert after.last_event_id == second.event_id
    # An aware datetime names the same moment.
    as_dt = datetime.fromtimestamp(first.timestamp / 1000, UTC)
    assert client.get_model_state_as_of(model_name, as_dt).version_in_stage("Production") == 1
    # A moment in the future is simply "now".
    assert _stages(client.get_model_state_as_of(model_name, second.timestamp + 10**9)) == {
        1: "Archived",
        2: "Production",
    }


def test_state_before_creation_and_bad_moments(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    created = _tick(client, model_name)
    with pytest.raises(NotFound, match="did not exist yet"):
        client.get_model_state_as_of(model_name, created.timestamp - 1)
    at_creation = client.get_model_state_as_of(model_name, created.timestamp)
    assert (at_creation.versions, dict(at_creation.aliases)) == ((), {})
    assert at_creation.last_event_id == created.event_id
    with pytest.raises(InvalidArgument, match=_names(r"as_of_timestamp")):
        client.get_model_state_as_of(model_name, 0)
    with pytest.raises(InvalidArgument, match=_names(r"as_of_timestamp")):
        client.get_model_state_as_of(model_name, -1)
    with pytest.raises(InvalidArgument, match=_names(r"name")):
        client.get_model_state_as_of("bad/name", created.timestamp)
    with pytest.raises(NotFound, match="no history"):
        client.get_model_state_as_of(model_name + "-never", created.timestamp)


def test_state_of_a_deleted_model(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.transition_model_version_stage(model_name, 1, "Production")
    client.set_registered_model_alias(model_name, "champion", 1)
    alive = _tick(client, model_name)
    client.delete_registered_model(model_name)
    deleted = _last_event(client, model_name)
    assert deleted.kind == "model_deleted"

    # Found by the name it had when deleted, as it was before the deletion.
    state = client.get_model_state_as_of(model_name, alive.timestamp)
    assert _stages(state) == {1: "Production"}
    assert dict(state.aliases) == {"champion": 1}
    with pytest.raises(NotFound, match="was deleted at"):
        client.get_model_state_as_of(model_name, deleted.timestamp)


def test_state_across_a_rename(client: RegistryClient, model_name: str) -> None:
    old, new = model_name, model_name + "-v2"
    client.create_registered_model(old)
    client.create_model_version(old, source="s3://a")
    client.set_registered_model_alias(old, "champion", 1)
    before = _tick(client, old)
    client.rename_registered_model(old, new)
    client.transition_model_version_stage(new, 1, "Staging")
    after = _last_event(client, new)

    then = client.get_model_state_as_of(new, before.timestamp)
    assert then.name == old  # the name it had at that moment
    assert (_stages(then), dict(then.aliases)) == ({1: "None"}, {"champion": 1})
    now = client.get_model_state_as_of(new, after.timestamp)
    assert now.name == new and _stages(now) == {1: "Staging"}
    # Looked up by its current name only: the old name designates nothing now.
    with pytest.raises(NotFound):
        client.get_model_state_as_of(old, before.timestamp)


def test_state_alias_moves_and_version_deletes(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.create_model_version(model_name, source="s3://b")
    client.set_registered_model_alias(model_name, "champion", 1)
    client.set_registered_model_alias(model_name, "shadow", 2)
    one = _tick(client, model_name)
    client.set_registered_model_alias(model_name, "champion", 2)
    two = _tick(client, model_name)
    client.delete_model_version(model_name, 2)  # champion and shadow go with it
    three = _last_event(client, model_name)

    assert dict(client.get_model_state_as_of(model_name, one.timestamp).aliases) == {
        "champion": 1,
        "shadow": 2,
    }
    assert dict(client.get_model_state_as_of(model_name, two.timestamp).aliases) == {
        "champion": 2,
        "shadow": 2,
    }
    gone = client.get_model_state_as_of(model_name, three.timestamp)
    assert (dict(gone.aliases), _stages(gone)) == ({}, {1: "None"})


def test_a_new_model_never_inherits_a_deleted_ones_history(
    client: RegistryClient, model_name: str
) -> None:
    # Ids are never reused (on SQLite since migration 0006, AUTOINCREMENT):
    # the histories stay apart, by name and in the point-in-time state.
    first, second = model_name + "-first", model_name + "-second"
    client.create_registered_model(first)
    client.create_model_version(first, source="s3://a")
    client.set_registered_model_alias(first, "champion", 1)
    client.delete_registered_model(first)
    client.create_registered_model(second)
    client.create_model_version(second, source="s3://b")
    last = _last_event(client, second)

    assert _kinds(client.iter_model_events(second)) == ["model_created", "version_created"]
    assert _kinds(client.iter_model_events(first)) == [
        "model_created",
        "version_created",
        "alias_set",
        "model_deleted",
    ]
    state = client.get_model_state_as_of(second, last.timestamp)
    assert (state.name, _stages(state), dict(state.aliases)) == (second, {1: "None"}, {})
    assert state.last_event_id == last.event_id
    created = next(iter(client.iter_model_events(second)))
    moment = created.timestamp - 1
    with pytest.raises(NotFound, match=rf"yet at {moment} \(created at {created.timestamp}\)"):
        client.get_model_state_as_of(second, created.timestamp - 1)
    with pytest.raises(NotFound, match="was deleted at"):
        client.get_model_state_as_of(first, last.timestamp)
