"""Bounded tags and events: a writer on one model cannot make it unreadable.

Without bounds, 260 tags of 64 KiB put GetRegisteredModel, searches and
ResolveModelUri over the 16 MiB message limit, and one 3 MiB
CreateModelVersion stored an 18.9 MB event that blocked ListModelEvents.
A model or version holds at most MAX_TAGS tags of MAX_TAGS_BYTES in all;
events store large values as summaries (length, sha256, first characters),
also when an event stored before the rule is read; ListModelEvents pages are
cut by bytes as well as by count. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import insert, select

from registry_client import FailedPrecondition, InvalidArgument, Lineage, RegistryClient
from registry_server.api import convert
from registry_server.domain import search
from registry_server.domain.events import MAX_EVENT_VALUE_BYTES, bounded_payload
from registry_server.domain.validation import MAX_TAGS, MAX_TAGS_BYTES
from registry_server.server import RunningServer
from registry_server.store.schema import model_events, registered_models

BIG = "x" * 60_000  # under the 64 KiB a single value may hold


def test_a_model_holds_at_most_max_tags(client: RegistryClient, model_name: str) -> None:
    with pytest.raises(InvalidArgument, match=f"more than {MAX_TAGS} entries"):
        client.create_registered_model(model_name, tags={f"k{i}": "v" for i in range(MAX_TAGS + 1)})
    client.create_registered_model(model_name, tags={f"k{i}": "v" for i in range(MAX_TAGS)})
    with pytest.raises(FailedPrecondition, match=f"already holds {MAX_TAGS} tags"):
        client.set_registered_model_tag(model_name, "one-more", "v")
    client.set_registered_model_tag(model_name, "k0", "replaced")  # not a new tag
    assert len(client.get_registered_model(model_name).tags) == MAX_TAGS


def test_a_model_holds_at_most_max_tags_bytes(client: RegistryClient, model_name: str) -> None:
    too_many = MAX_TAGS_BYTES // len(BIG) + 1
    with pytest.raises(InvalidArgument, match=f"at most {MAX_TAGS_BYTES} bytes"):
        client.create_registered_model(model_name, tags={f"k{i}": BIG for i in range(too_many)})
    client.create_registered_model(model_name, tags={f"k{i}": BIG for i in range(too_many - 1)})
    with pytest.raises(FailedPrecondition, match=f"at most {MAX_TAGS_BYTES}"):
        client.set_registered_model_tag(model_name, "last", BIG)
    client.set_registered_model_tag(model_name, "k0", "small")  # frees room
    client.set_registered_model_tag(model_name, "last", BIG)


def test_a_version_holds_at_most_max_tags(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    with pytest.raises(InvalidArgument, match=f"more than {MAX_TAGS} entries"):
        client.create_model_version(
            model_name, source="s3://b/m", tags={f"k{i}": "v" for i in range(MAX_TAGS + 1)}
        )
    too_many = MAX_TAGS_BYTES // len(BIG) + 1
    with pytest.raises(InvalidArgument, match=f"at most {MAX_TAGS_BYTES} bytes"):
        client.create_model_version(
            model_name, source="s3://b/m", tags={f"k{i}": BIG for i in range(too_many)}
        )
    version = client.create_model_version(
        model_name, source="s3://b/m", tags={f"k{i}": "v" for i in range(MAX_TAGS)}
    ).version
    with pytest.raises(FailedPrecondition, match=f"already holds {MAX_TAGS} tags"):
        client.set_model_version_tag(model_name, version, "one-more", "v")
    other = client.create_model_version(model_name, source="s3://b/m").version
    for i in range(too_many - 1):
        client.set_model_version_tag(model_name, other, f"k{i}", BIG)
    with pytest.raises(FailedPrecondition, match=f"at most {MAX_TAGS_BYTES}"):
        client.set_model_version_tag(model_name, other, "last", BIG)


def test_events_store_large_values_as_summaries(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name, description="d" * (MAX_EVENT_VALUE_BYTES + 1))
    client.set_registered_model_tag(model_name, "big", BIG)
    client.set_registered_model_tag(model_name, "small", "kept")
    created, big, small = client.list_model_events(model_name).events
    description = created.after["description"]
    assert description["summarized"] is True
    assert description["bytes"] == MAX_EVENT_VALUE_BYTES + 1
    expected = hashlib.sha256(b"d" * (MAX_EVENT_VALUE_BYTES + 1)).hexdigest()
    assert description["sha256"] == expected
    assert big.after["key"] == "big"
    assert big.after["value"]["bytes"] == len(BIG)
    assert big.after["value"]["sha256"] == hashlib.sha256(BIG.encode()).hexdigest()
    assert small.after == {"key": "small", "value": "kept"}
    # The model itself keeps the whole value.
    assert client.get_registered_model(model_name).tags["big"] == BIG


def test_an_oversized_event_stored_earlier_is_summarised_on_read(
    client: RegistryClient, registry: RunningServer, model_name: str
) -> None:
    client.create_registered_model(model_name)
    huge = {"tags": {f"k{i}": "v" * 60_000 for i in range(300)}, "status": "READY"}
    with registry.database.engine.begin() as conn:
        model_id = conn.execute(
            select(registered_models.c.id).where(registered_models.c.name == model_name)
        ).scalar_one()
        conn.execute(
            insert(model_events).values(
                model_id=model_id,
                model_name=model_name,
                version=1,
                kind="version_created",
                actor="old-server",
                event_time=1,
                before={},
                after=huge,
            )
        )
    events = client.list_model_events(model_name).events
    old = events[-1]
    assert old.after["status"] == "READY"
    assert old.after["tags"]["k0"]["summarized"] is True
    assert old.after["tags"]["k0"]["bytes"] == 60_000
    assert len(str(old.after)) < 200_000  # from 18 MB


def test_an_event_entry_too_large_even_summarised_is_summarised_whole() -> None:
    payload = {"tags": {f"k{i:05}": "v" * 100 for i in range(10_000)}, "status": "READY"}
    bounded = bounded_payload(payload)
    assert bounded["status"] == "READY"
    assert bounded["tags"]["summarized"] is True
    assert bounded["tags"]["entries"] == 10_000
    assert bounded_payload({"key": "k", "value": "v"}) == {"key": "k", "value": "v"}


def test_list_model_events_pages_are_cut_by_bytes(
    client: RegistryClient, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.create_registered_model(model_name)
    for i in range(6):
        client.set_registered_model_tag(model_name, f"k{i}", "v" * 3000)
    everything = client.list_model_events(model_name).events
    assert len(everything) == 7
    monkeypatch.setattr(convert, "MAX_EVENT_PAGE_BYTES", 10_000)
    seen = []
    after = 0
    while True:
        page = client.list_model_events(model_name, after_event_id=after, page_size=100)
        assert 1 <= len(page.events) <= 4
        seen += page.events
        if not page.next_after_event_id:
            break
        assert page.next_after_event_id == page.events[-1].event_id
        after = page.next_after_event_id
    assert [e.event_id for e in seen] == [e.event_id for e in everything]


def test_search_pages_are_cut_by_bytes(
    client: RegistryClient, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        client.create_registered_model(f"{model_name}-{i}", description="d" * 3000)
    wanted = f"name LIKE '{model_name}-%'"
    everything = client.search_registered_models(wanted, max_results=100)
    assert len(everything) == 5 and not everything.token
    monkeypatch.setattr(search, "MAX_PAGE_BYTES", 8000)
    seen: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(wanted, max_results=100, page_token=token)
        assert 1 <= len(page) <= 2
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == [m.name for m in everything]


def test_lineage_answers_are_cut_by_bytes(
    client: RegistryClient, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.create_registered_model(model_name)
    parent = client.create_model_version(model_name, source="s3://b/p")
    for _ in range(4):
        client.create_model_version(
            model_name,
            source="s3://b/c",
            description="d" * 3000,
            lineage=Lineage(parent_model_uri=parent.uri),
        )
    whole = client.get_model_version_lineage(model_name, parent.version)
    assert len(whole.descendants) == 4 and not whole.truncated
    monkeypatch.setattr(convert, "MAX_LINEAGE_BYTES", 8000)
    cut = client.get_model_version_lineage(model_name, parent.version)
    assert cut.truncated
    assert 1 <= len(cut.descendants) < 4
    assert [v.version for v in cut.descendants] == [
        v.version for v in whole.descendants[: len(cut.descendants)]
    ]
