"""Writes on PostgreSQL that hold the model's lock for one round trip.

An alias move sends the model's lock, the move and its answer's read as one
message
(store/alias_move.py) and a model's creation is one statement
(store/new_model.py). These tests hold the model's row lock from outside and
look at what the server's waiting backend was sent, check that a refused
move changes nothing and says why, and that the answers and events match
what the transaction path writes (tests/test_aliases.py and test_models.py
check the same behaviour on both backends).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from registry_client import AlreadyExists, FailedPrecondition, RegistryClient, RegistryError


@pytest.fixture(scope="module")
def engine(pg_database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_database_url)
    yield engine
    engine.dispose()


def _waiting_query(engine: sa.Engine, holder_pid: int) -> str:
    """The text of the backend that waits for `holder_pid`'s lock."""
    deadline = time.monotonic() + 20
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            found = conn.execute(
                sa.text(
                    "SELECT query FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"
                ),
                {"holder": holder_pid},
            ).scalar()
            if found is not None:
                return str(found)
            conn.commit()
            time.sleep(0.02)
    raise AssertionError("no backend waited for the held lock")


def _holding_model_lock(engine: sa.Engine, name: str) -> tuple[sa.Connection, int]:
    conn = engine.connect()
    conn.begin()
    pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    conn.execute(
        sa.text("SELECT id FROM registered_models WHERE name = :name FOR UPDATE"), {"name": name}
    )
    return conn, int(pid)


def _model_with_versions(client: RegistryClient, name: str, count: int) -> None:
    client.create_registered_model(name)
    for i in range(count):
        client.create_model_version(name, source=f"s3://bucket/{name}/{i + 1}")


def test_an_alias_move_waits_for_the_lock_with_its_whole_change_sent(
    pg_client: RegistryClient, engine: sa.Engine, model_name: str
) -> None:
    _model_with_versions(pg_client, model_name, 2)
    pg_client.set_registered_model_alias(model_name, "champion", 1)
    holder, pid = _holding_model_lock(engine, model_name)
    answers: dict[str, Any] = {}

    def move() -> None:
        answers["move"] = pg_client.set_registered_model_alias(
            model_name, "champion", 2, expected_version=1
        )

    mover = threading.Thread(target=move)
    mover.start()
    try:
        waiting = _waiting_query(engine, pid)
    finally:
        holder.commit()
        holder.close()
    mover.join(timeout=20)
    # The lock, the compare-and-swap and the answer's read arrived together:
    # nothing is left to send once the lock is granted.
    assert waiting.count("EXECUTE ") == 3, waiting
    # Bounded by the call's deadline in PostgreSQL itself, like a transaction.
    assert waiting.startswith("SET LOCAL statement_timeout = "), waiting
    assert "SET LOCAL lock_timeout = " in waiting, waiting
    assert answers["move"].version == 2 and answers["move"].aliases == ("champion",)
    assert pg_client.get_model_version_by_alias(model_name, "champion").version == 2


def test_a_move_waiting_for_the_lock_ends_by_its_deadline_and_changes_nothing(
    pg_client: RegistryClient, pg_target: str, engine: sa.Engine, model_name: str
) -> None:
    _model_with_versions(pg_client, model_name, 2)
    pg_client.set_registered_model_alias(model_name, "champion", 1)
    holder, pid = _holding_model_lock(engine, model_name)
    try:
        started = time.monotonic()
        with (
            RegistryClient(pg_target, timeout=1.0) as hurried,
            pytest.raises(RegistryError) as refused,
        ):
            hurried.set_registered_model_alias(model_name, "champion", 2)
        assert refused.value.code in (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.UNAVAILABLE,
        )
        assert time.monotonic() - started < 5
        # PostgreSQL gave up waiting too (lock_timeout): nobody waits for the holder.
        with engine.connect() as conn:
            deadline = time.monotonic() + 10
            while conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE :h = ANY(pg_blocking_pids(pid))"
                ),
                {"h": pid},
            ).scalar_one():
                assert time.monotonic() < deadline, "the move still waits for the lock"
                conn.commit()
                time.sleep(0.05)
    finally:
        holder.commit()
        holder.close()
    assert pg_client.get_model_version_by_alias(model_name, "champion").version == 1
    assert [e.kind for e in pg_client.iter_model_events(model_name)].count("alias_set") == 1


def test_a_move_decided_after_the_lock_sees_the_previous_holders_change(
    pg_client: RegistryClient, engine: sa.Engine, model_name: str
) -> None:
    """The move's reads happen after the lock is granted: a compare-and-swap
    that expects the value another transaction is about to replace fails."""
    _model_with_versions(pg_client, model_name, 3)
    pg_client.set_registered_model_alias(model_name, "champion", 1)
    holder, pid = _holding_model_lock(engine, model_name)
    outcome: dict[str, BaseException | None] = {}

    def move() -> None:
        try:
            pg_client.set_registered_model_alias(model_name, "champion", 2, expected_version=1)
            outcome["error"] = None
        except BaseException as exc:
            outcome["error"] = exc

    mover = threading.Thread(target=move)
    mover.start()
    try:
        _waiting_query(engine, pid)
        # While the mover waits, the holder moves the alias to version 3.
        holder.execute(
            sa.text(
                "UPDATE registered_model_aliases SET version_id = ("
                " SELECT v.id FROM model_versions v JOIN registered_models m"
                " ON m.id = v.model_id WHERE m.name = :name AND v.version = 3)"
                " WHERE alias = 'champion' AND model_id = ("
                " SELECT id FROM registered_models WHERE name = :name)"
            ),
            {"name": model_name},
        )
    finally:
        holder.commit()
        holder.close()
    mover.join(timeout=20)
    assert isinstance(outcome["error"], FailedPrecondition)
    assert "points at version 3" in str(outcome["error"])
    assert pg_client.get_model_version_by_alias(model_name, "champion").version == 3
    moves = [e for e in pg_client.iter_model_events(model_name) if e.kind == "alias_set"]
    assert len(moves) == 1  # the refused move wrote no event


def test_refused_moves_change_nothing(pg_client: RegistryClient, model_name: str) -> None:
    pg_client.create_registered_model(model_name)
    pg_client.create_model_version(model_name, source="s3://b/1")
    pending = pg_client.create_model_version(
        model_name, registry_held_artifacts=True
    )  # PENDING_REGISTRATION until its files are uploaded
    before = pg_client.get_registered_model(model_name)
    with pytest.raises(FailedPrecondition, match="only READY versions"):
        pg_client.set_registered_model_alias(model_name, "champion", pending.version)
    with pytest.raises(FailedPrecondition, match="does not exist"):
        pg_client.set_registered_model_alias(model_name, "champion", 1, expected_version=1)
    after = pg_client.get_registered_model(model_name)
    assert after.aliases == {} and after.last_updated_timestamp == before.last_updated_timestamp
    assert [e.kind for e in pg_client.iter_model_events(model_name)].count("alias_set") == 0


def test_the_events_of_a_move_name_both_ends(pg_client: RegistryClient, model_name: str) -> None:
    _model_with_versions(pg_client, model_name, 2)
    first = pg_client.set_registered_model_alias(model_name, "champion", 1)
    again = pg_client.set_registered_model_alias(model_name, "champion", 1)  # no change
    second = pg_client.set_registered_model_alias(model_name, "champion", 2)
    assert first.version == 1 and again.version == 1 and second.version == 2
    moves = [
        (e.version, e.before, e.after)
        for e in pg_client.iter_model_events(model_name)
        if e.kind == "alias_set"
    ]
    assert moves == [
        (1, {}, {"alias": "champion", "version": 1}),
        (2, {"alias": "champion", "version": 1}, {"alias": "champion", "version": 2}),
    ]
    model = pg_client.get_registered_model(model_name)
    assert model.last_updated_timestamp >= model.creation_timestamp


def test_a_created_model_answers_as_it_reads(pg_client: RegistryClient, model_name: str) -> None:
    created = pg_client.create_registered_model(
        model_name, description="fraud scorer", tags={"team": "risk", "a": "1"}
    )
    read = pg_client.get_registered_model(model_name)
    assert created == read
    (event,) = [e for e in pg_client.iter_model_events(model_name)]
    assert event.kind == "model_created"
    assert event.after == {
        "name": model_name,
        "description": "fraud scorer",
        "tags": {"team": "risk", "a": "1"},
    }


def test_concurrent_creations_of_one_name_have_one_winner(
    pg_client: RegistryClient, engine: sa.Engine, model_name: str
) -> None:
    def create(i: int) -> str:
        try:
            pg_client.create_registered_model(model_name, tags={"attempt": str(i)})
            return "created"
        except AlreadyExists as exc:
            assert "name:" in str(exc)
            return "exists"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(create, range(16)))
    assert sorted(set(outcomes)) == ["created", "exists"] and outcomes.count("created") == 1
    with engine.connect() as conn:
        tag_rows = conn.execute(
            sa.text(
                "SELECT count(*) FROM registered_model_tags t JOIN registered_models m"
                " ON m.id = t.model_id WHERE m.name = :name"
            ),
            {"name": model_name},
        ).scalar_one()
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM registered_model_tags t"
                " LEFT JOIN registered_models m ON m.id = t.model_id WHERE m.id IS NULL"
            )
        ).scalar_one()
    assert tag_rows == 1 and orphans == 0
    events = [e.kind for e in pg_client.iter_model_events(model_name)]
    assert events == ["model_created"]
