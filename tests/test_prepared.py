"""Prepared statements on PostgreSQL (registry_server/store/prepared.py): the hot lookups
run as EXECUTE of a statement prepared once per connection, survive a lost connection,
and can be turned off."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from registry_client import Dataset, Lineage, RegistryClient
from registry_server import migrate
from registry_server.config import ServerConfig
from registry_server.domain.access import AccessControl, Caller
from registry_server.domain.entities import Lineage as DomainLineage
from registry_server.domain.entities import NewModelVersion
from registry_server.domain.registry import Registry
from registry_server.domain.search_filter import MODELS, VERSIONS, parse
from registry_server.server import RunningServer, prepare_database, start
from registry_server.store import search, versions
from registry_server.store.database import make_engine


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.lstrip().split(None, 2)[0].upper() + " " + statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _seed(client: RegistryClient, name: str) -> None:
    client.create_registered_model(name)
    client.create_model_version(name, source="s3://b/m")
    client.set_registered_model_alias(name, "champion", 1)


def test_hot_lookups_run_prepared_statements(
    pg_client: RegistryClient, postgres_server_handle: RunningServer, model_name: str
) -> None:
    _seed(pg_client, model_name)
    engine = postgres_server_handle.database.read_engine
    with _statements(engine) as seen:
        for _ in range(3):
            assert pg_client.resolve(f"models:/{model_name}@champion").model_version.version == 1
            assert list(pg_client.get_model_version(model_name, 1).aliases) == ["champion"]
    # No query text went through SQLAlchemy (the EXECUTEs go to the cursor directly),
    # and each statement was prepared at most once on the connection the calls used.
    assert all(s.startswith("PREPARE") for s in seen), seen
    assert len(seen) <= 2, seen
    # The pool hands out the most recently used connection: the one the calls ran on.
    with engine.connect() as conn:
        prepared = conn.exec_driver_sql(
            "SELECT name FROM pg_prepared_statements WHERE starts_with(name, 'registry_q')"
        ).all()
    assert len(prepared) >= 2, prepared


def test_a_lost_connection_prepares_again(empty_pg_database: str, tmp_path: Path) -> None:
    engine = make_engine(empty_pg_database, pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()
    running = start(
        ServerConfig(
            database_url=empty_pg_database,
            artifact_store=str(tmp_path / "artifacts"),
            listen="127.0.0.1:0",
        )
    )
    try:
        with RegistryClient(f"127.0.0.1:{running.port}") as client:
            _seed(client, "lost")
            client.resolve("models:/lost@champion")
            # End the server's sessions: its pooled connections, and the statements
            # prepared on them, are gone.
            admin = sa.create_engine(empty_pg_database, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            admin.dispose()
            # The client retries the UNAVAILABLE of a call on a dead connection.
            for _ in range(5):
                assert client.resolve("models:/lost@champion").model_version.version == 1
                assert client.get_model_version_by_alias("lost", "champion").version == 1
    finally:
        running.stop(grace=1)


def test_prepared_statements_can_be_turned_off(pg_database_url: str, model_name: str) -> None:
    database = prepare_database(pg_database_url, pool_size=1, prepared_statements=False)
    try:
        with _statements(database.read_engine) as seen, database.read() as conn:
            assert versions.get_by_alias(conn, model_name, "champion") is None
        assert seen and all(s.startswith("SELECT") for s in seen), seen
    finally:
        database.dispose()


@contextmanager
def _seeded_schema(url: str, *inserts: str, analyze: bool = True) -> Iterator[sa.Engine]:
    """An engine on `url` with the newest schema, `inserts` run and analysed."""
    engine = make_engine(url, pool_size=1)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            for sql in inserts:
                conn.exec_driver_sql(sql)
            if analyze:
                conn.exec_driver_sql("ANALYZE")
        yield engine
    finally:
        engine.dispose()


def _generic_plan(engine: sa.Engine, stmt: Any, **values: Any) -> tuple[str, list[Any]]:
    """EXPLAIN and rows of a statement (its bound `values`, if any) under the
    generic plan PostgreSQL settles on for a statement prepared and run many
    times."""
    _, execute, params, constants = stmt._compiled
    args = {k: {**constants, **values}[k] for k in params}
    with engine.connect() as conn:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(stmt.prepare_sql)
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + execute, args))
        return plan, list(conn.exec_driver_sql(execute, args).all())


def test_a_prepared_like_search_keeps_using_the_name_index(empty_pg_database: str) -> None:
    """A generic plan knows the LIKE pattern only as a parameter; the explicit
    prefix bounds keep it on the name index instead of a scan of every model."""
    with _seeded_schema(
        empty_pg_database,
        "INSERT INTO registered_models (name, creation_time, last_updated_time) "
        "SELECT 'model-' || lpad(g::text, 5, '0'), 1, 1 FROM generate_series(1, 5000) g",
    ) as engine:
        tree = parse("name LIKE 'model-012%'", MODELS)
        order = (("name", False),)
        stmt = search._cached_statement(
            search._models_statement, "postgresql", tree, order, None, 101
        )
        plan, rows = _generic_plan(engine, stmt)
        names = [row.name for row in rows]
    assert "ix_registered_models_name_pattern" in plan, plan
    assert names == [f"model-{n:05d}" for n in range(1200, 1300)]


def test_creating_a_version_is_one_prepared_statement(
    pg_client: RegistryClient, postgres_server_handle: RunningServer, model_name: str
) -> None:
    """store/new_version.py: no SQL text but (at most) its PREPARE goes to the
    write connection, and the version, its tags and its event come out as the
    transaction path (taken for a version with data sets) writes them."""
    pg_client.create_registered_model(model_name)
    engine = postgres_server_handle.database.engine
    with _statements(engine) as seen:
        one = pg_client.create_model_version(
            model_name, source="s3://b/1", run_id="r1", tags={"k": "v", "team": "risk"}
        )
        again = pg_client.create_model_version(model_name, source="s3://b/x", idempotency_key="k1")
        replay = pg_client.create_model_version(model_name, source="s3://b/x", idempotency_key="k1")
    assert all(s.startswith("PREPARE") for s in seen), seen
    assert (one.version, again.version, replay.version) == (1, 2, 2)
    # Answered from what the statement wrote, exactly as a read shows it.
    assert one == pg_client.get_model_version(model_name, 1)
    assert again == replay == pg_client.get_model_version(model_name, 2)
    two = pg_client.create_model_version(
        model_name,
        source="s3://b/2",
        tags={"k": "v", "team": "risk"},
        lineage=Lineage(run_id="r1", datasets=(Dataset("train", "d1"),)),
    )
    assert two.version == 3
    assert one.tags == two.tags == {"k": "v", "team": "risk"}
    assert (one.run_id, one.status, one.current_stage) == ("r1", "READY", "None")
    assert one.creation_timestamp == one.last_updated_timestamp > 0
    created = {
        e.version: e for e in pg_client.iter_model_events(model_name) if e.kind == "version_created"
    }
    assert sorted(created) == [1, 2, 3]
    assert created[1].after == {
        "version": 1,
        "source": "s3://b/1",
        "run_id": "r1",
        "status": "READY",
        "tags": {"k": "v", "team": "risk"},
        "parent_model_uri": "",
    }
    assert created[3].after == {**created[1].after, "version": 3, "source": "s3://b/2"}
    assert created[1].timestamp == one.creation_timestamp
    assert pg_client.get_registered_model(model_name).last_version == 3
    held = pg_client.create_model_version(
        model_name, registry_held_artifacts=True, description="d", tags={"z": "1", "a": "2"}
    )
    assert (held.version, held.status, held.source) == (
        4,
        "PENDING_REGISTRATION",
        f"models:/{model_name}/4",
    )
    assert held == pg_client.get_model_version(model_name, 4)


def test_one_statement_creates_commit_without_prepared_statements(
    pg_database_url: str, model_name: str
) -> None:
    """With REGISTRY_PREPARED_STATEMENTS=false the statement runs as text, still
    in autocommit: the version is there for any other connection at once."""
    database = prepare_database(pg_database_url, pool_size=1, prepared_statements=False)
    try:
        caller = Caller.unauthenticated("test-suite")
        registry = Registry(database, None, AccessControl(database))
        registry.create_registered_model(model_name, "", {}, caller)
        new = NewModelVersion(model_name, "s3://b/1", "", {"k": "v"}, DomainLineage(), "key-1")
        with _statements(database.engine) as seen:
            first = registry.create_model_version(new, caller)
            replay = registry.create_model_version(new, caller)
        assert any("WITH model AS (\n    UPDATE registered_models" in s for s in seen), seen
        assert (first.version.version, first.idempotent_replay) == (1, False)
        assert (replay.version.version, replay.idempotent_replay) == (1, True)
        other = make_engine(pg_database_url, pool_size=1)
        try:
            with other.connect() as conn:
                tags = conn.exec_driver_sql(
                    "SELECT t.key, t.value FROM model_version_tags t "
                    "JOIN model_versions v ON v.id = t.version_id "
                    "WHERE v.model_id = %(model)s AND v.version = 1",
                    {"model": first.version.model_id},
                ).all()
        finally:
            other.dispose()
        assert [tuple(t) for t in tags] == [("k", "v")]
    finally:
        database.dispose()


def test_a_prepared_listing_of_one_models_versions_reads_them_in_index_order(
    empty_pg_database: str,
) -> None:
    """``name = 'm'``, newest first: the (model_id, version) index delivers the
    page in order (no sort of all the model's versions), also in the generic
    plan of the prepared statement, and the rows come back in page order."""
    with _seeded_schema(
        empty_pg_database,
        "INSERT INTO registered_models (name, creation_time, last_updated_time) "
        "SELECT 'model-' || g, 1, 1 FROM generate_series(1, 50) g",
        "INSERT INTO model_versions (model_id, version, creation_time, "
        "last_updated_time) SELECT m.id, g, g, g FROM registered_models m, "
        "generate_series(1, 400) g",
    ) as engine:
        tree = parse("name = 'model-7'", VERSIONS)
        order = (("name", False), ("version_number", True))
        stmt = search._cached_statement(
            search._versions_statement, "postgresql", tree, order, None, 101
        )
        plan, rows = _generic_plan(engine, stmt)
    assert "Index Scan Backward using uq_model_versions_model_id_version" in plan, plan
    assert [(r.name, r.version) for r in rows] == [("model-7", v) for v in range(400, 299, -1)]


def test_alias_moves_transitions_and_model_reads_are_prepared(
    pg_client: RegistryClient, postgres_server_handle: RunningServer, model_name: str
) -> None:
    """Under the model's lock only the history event goes as SQL text; the
    lookups, the alias upsert, the stage updates and the model reads are
    EXECUTEs of statements prepared once per connection."""
    _seed(pg_client, model_name)
    pg_client.create_model_version(model_name, source="s3://b/m2")
    database = postgres_server_handle.database
    with _statements(database.engine) as writes, _statements(database.read_engine) as reads:
        for version in (2, 1):
            moved = pg_client.set_registered_model_alias(model_name, "champion", version)
            assert moved.version == version
            staged = pg_client.transition_model_version_stage(
                model_name, version, "Production", archive_existing_versions=True
            )
            assert staged.current_stage == "Production"
            model = pg_client.get_registered_model(model_name)
            assert model.aliases == {"champion": version}
    # Each write transaction also starts with the SET LOCAL of its call's
    # deadline (store/database.py): parsed, never planned.
    # The webhook sender's own polling (events/webhook_sender.py) runs on the
    # same engines in the background; it is not part of these calls.
    text = [
        s
        for s in writes + reads
        if not s.startswith("PREPARE")
        and not s.startswith("SET SET LOCAL statement_timeout")
        and "webhook_deliveries" not in s
    ]
    assert text and all(s.startswith("INSERT INSERT INTO model_events") for s in text), text


def test_get_by_alias_finds_the_alias_by_key_not_by_walking_the_versions(
    empty_pg_database: str,
) -> None:
    """Joined on version_id alone, the lookup walked every version of the
    model and probed the aliases of each; now it reads the alias by its key
    and the version by primary key, whatever the model's size and whatever
    the planner knows about the tables (here: nothing, as before the first
    autovacuum of a new deployment)."""
    with _seeded_schema(
        empty_pg_database,
        "INSERT INTO registered_models (name, creation_time, last_updated_time) "
        "SELECT 'model-' || g, 1, 1 FROM generate_series(1, 20) g",
        "INSERT INTO model_versions (model_id, version, creation_time, "
        "last_updated_time) SELECT m.id, g, g, g FROM registered_models m, "
        "generate_series(1, 400) g",
        "INSERT INTO registered_model_aliases (model_id, alias, version_id) "
        "SELECT m.id, 'champion', v.id FROM registered_models m "
        "JOIN model_versions v ON v.model_id = m.id WHERE v.version = 45",
        analyze=False,
    ) as engine:
        plan, rows = _generic_plan(engine, versions._BY_ALIAS, name="model-7", alias="champion")
    assert "Index Scan using pk_model_versions on model_versions " in plan, plan
    assert "uq_model_versions_model_id_version" not in plan, plan
    assert "ix_model_versions_model_id_stage_version" not in plan, plan
    assert [(r.name, r.version) for r in rows] == [("model-7", 45)]


def test_one_round_trip_alias_moves_and_creations_without_prepared_statements(
    pg_database_url: str, model_name: str
) -> None:
    """With REGISTRY_PREPARED_STATEMENTS=false the lock, the move and the read
    go as one text message, and a model's creation as one statement."""
    database = prepare_database(pg_database_url, pool_size=1, prepared_statements=False)
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    try:
        caller = Caller.unauthenticated("test-suite")
        registry = Registry(database, None, AccessControl(database))
        event.listen(database.engine, "before_cursor_execute", record)
        created = registry.create_registered_model(model_name, "d", {"k": "v"}, caller)
        (creation,) = [s for s in sent if "INSERT INTO registered_models" in s]
        assert "INSERT INTO model_events" in creation and "registered_model_tags" in creation
        assert created.tags == {"k": "v"} and created.last_version == 0
        for i in (1, 2):
            new = NewModelVersion(model_name, f"s3://b/{i}", "", {}, DomainLineage(), "")
            registry.create_model_version(new, caller)
        registry.set_registered_model_alias(model_name, "champion", 1, None, caller)
        sent.clear()
        moved = registry.set_registered_model_alias(model_name, "champion", 2, 1, caller)
        (message,) = [s for s in sent if "FOR UPDATE" in s]
        assert "set_config" in message and "current_setting" in message, message
        assert (moved.version.version, moved.version.aliases, moved.previous_version) == (
            2,
            ("champion",),
            1,
        )
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
        database.dispose()
