"""The unit of work every mutation runs in (registry_server/domain/_change.py),
and the clock the domain takes instead of reading the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.waiting import FakeClock

from registry_server.domain.access import AccessControl, AccessDenied, Caller, Role
from registry_server.domain.entities import EventQuery
from registry_server.domain.events import EventKind
from registry_server.domain.history import HistoryService
from registry_server.domain.registry import Registry
from registry_server.server import prepare_database
from registry_server.store.database import Database

ADMIN = Caller.unauthenticated("test-suite")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = prepare_database(f"sqlite:///{tmp_path / 'registry.db'}", pool_size=1)
    yield database
    database.dispose()


def test_changes_are_stamped_by_the_clock_they_are_given(database: Database) -> None:
    clock = FakeClock()
    registry = Registry(database, clock=clock)
    created = registry.create_registered_model("m", "", {}, ADMIN)
    clock.now += 5
    registry.set_registered_model_tag("m", "k", "v", ADMIN)

    model = registry.get_registered_model("m", ADMIN)
    assert created.creation_timestamp == clock.now - 5
    assert model.last_updated_timestamp == clock.now
    history = HistoryService(database).list_events(EventQuery(name="m"), ADMIN)
    assert [(e.kind, e.timestamp) for e in history.events] == [
        (EventKind.MODEL_CREATED, clock.now - 5),
        (EventKind.MODEL_TAG_SET, clock.now),
    ]


def test_a_change_that_skips_the_access_decision_commits_nothing(database: Database) -> None:
    registry = Registry(database)
    registry.create_registered_model("m", "", {}, ADMIN)
    with (
        pytest.raises(AssertionError, match="authorised"),
        registry.changes.model("m", ADMIN, None) as change,
    ):
        change.touch_model()
        change.record(EventKind.MODEL_TAG_SET, after={"key": "k", "value": "v"})
    history = HistoryService(database).list_events(EventQuery(name="m"), ADMIN)
    assert [e.kind for e in history.events] == [EventKind.MODEL_CREATED]


def test_a_refused_change_is_recorded_at_the_access_layers_time(database: Database) -> None:
    clock = FakeClock()
    access = AccessControl(database, clock=clock)
    registry = Registry(database, access=access, clock=clock)
    registry.create_registered_model("m", "", {}, ADMIN)
    reader = Caller("someone", Role.READER)
    clock.now += 7
    with pytest.raises(AccessDenied) as refused:
        registry.set_registered_model_tag("m", "k", "v", reader)
    access.record_denial(refused.value)
    history = HistoryService(database).list_events(EventQuery(name="m"), ADMIN)
    assert [(e.kind, e.timestamp) for e in history.events][-1] == (
        EventKind.ACCESS_DENIED,
        clock.now,
    )
