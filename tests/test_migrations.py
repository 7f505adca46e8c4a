"""Schema migrations: upgrade from empty, models match migrations, startup checks, data
written at every earlier revision upgraded to head and read through the public client, and
one step down from head and back up; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from registry_client import RegistryClient
from registry_server import cli as server_cli
from registry_server import migrate
from registry_server.config import ServerConfig
from registry_server.server import start
from registry_server.store.database import make_engine
from registry_server.store.schema import metadata

TABLES = {
    "registered_models",
    "registered_model_tags",
    "registered_model_aliases",
    "model_versions",
    "model_version_tags",
    "model_version_datasets",
    "model_version_files",
    "model_events",
    "access_tokens",
    "model_grants",
    "model_protections",
    "webhooks",
    "webhook_event_kinds",
    "webhook_models",
    "webhook_deliveries",
    "console_sessions",
    "alembic_version",
}


def _assert_schema_matches_models(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as conn:
            # SQLite reflects server defaults with different quoting, which
            # alembic reports as false differences; PostgreSQL compares them.
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": engine.dialect.name == "postgresql",
                },
            )
            assert compare_metadata(ctx, metadata) == []
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_upgrade_postgres_from_empty(empty_pg_database: str) -> None:
    engine = make_engine(empty_pg_database, pool_size=1)
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # idempotent
    engine.dispose()
    _assert_schema_matches_models(empty_pg_database)


def test_upgrade_sqlite_from_empty(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()
    _assert_schema_matches_models(url)


def test_db_upgrade_command(empty_pg_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert server_cli.main(["db", "current", "--database-url", empty_pg_database]) == 0
    assert "empty" in capsys.readouterr().out
    assert server_cli.main(["db", "upgrade", "--database-url", empty_pg_database]) == 0
    assert migrate.head_revision() in capsys.readouterr().out
    assert server_cli.main(["db", "current", "--database-url", empty_pg_database]) == 0
    assert "up to date" in capsys.readouterr().out


def test_server_refuses_a_postgres_schema_that_is_behind(
    empty_pg_database: str, capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = ServerConfig(
        database_url=empty_pg_database, artifact_store=str(tmp_path), listen="127.0.0.1:0"
    )
    with pytest.raises(migrate.SchemaBehind, match="registry-server db upgrade"):
        start(config)
    code = server_cli.main(
        ["serve", "--database-url", empty_pg_database, "--listen", "127.0.0.1:0"]
    )
    assert code == 1
    assert "registry-server db upgrade" in capsys.readouterr().err
    # Nothing was created behind the operator's back.
    engine = make_engine(empty_pg_database, pool_size=1)
    assert inspect(engine).get_table_names() == []
    engine.dispose()


def test_sqlite_is_migrated_on_start(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'registry.db'}"
    running = start(
        ServerConfig(
            database_url=url, artifact_store=str(tmp_path / "artifacts"), listen="127.0.0.1:0"
        )
    )
    running.stop(grace=0)
    _assert_schema_matches_models(url)


# ------------------------------------------------------------ data from earlier revisions

#: Every revision before head; each test below seeds a database left at one of them.
EARLIER = ("0001", "0002", "0003", "0004", "0005")
T0 = 1_700_000_000_000
SHA = "ab" * 32


def _alembic(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", migrate.script_location())
    config.attributes["connection"] = conn
    return config


def _upgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), revision)


def _downgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.downgrade(_alembic(conn), revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        yield request.getfixturevalue("empty_pg_database")


def _insert(conn: Connection, table: str, **values: object) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join(f":{k}" for k in values)
    conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"), values)


def _version(conn: Connection, model_id: int, number: int, at: int, **values: object) -> int:
    """Insert version ``number`` of the model (READY, by alice) and return its row id."""
    _insert(
        conn,
        "model_versions",
        model_id=model_id,
        version=number,
        creation_time=T0 + at,
        last_updated_time=T0 + at,
        created_by="alice",
        status="READY",
        **values,
    )
    sql = "SELECT id FROM model_versions WHERE model_id = :m AND version = :v"
    return int(conn.execute(text(sql), {"m": model_id, "v": number}).scalar_one())


def _seed(conn: Connection, revision: str, name: str) -> None:
    """A model as a server at ``revision`` would have written it, in plain SQL: two
    versions (the second derived from the first, with a data set, in Production under
    @champion), tags, events; from 0002 on a third version whose file the registry holds;
    from 0003 on events carry their alias in a column."""
    held = revision >= "0002"
    _insert(
        conn,
        "registered_models",
        name=name,
        description=f"seeded at {revision}",
        creation_time=T0,
        last_updated_time=T0 + 5,
        last_version=3 if held else 2,
        created_by="alice",
    )
    sql = "SELECT id FROM registered_models WHERE name = :n"
    model_id = int(conn.execute(text(sql), {"n": name}).scalar_one())
    _insert(conn, "registered_model_tags", model_id=model_id, key="team", value="risk")
    first = _version(
        conn, model_id, 1, 1, source="s3://bucket/1", stage="Archived", run_id=f"run-{name}"
    )
    second = _version(
        conn,
        model_id,
        2,
        2,
        source="s3://bucket/2",
        stage="Production",
        run_id=f"run-{name}",
        parent_model_uri=f"models:/{name}/1",
        parent_version_id=first,
        idempotency_key="deploy-2",
    )
    _insert(conn, "model_version_tags", version_id=second, key="validated", value="yes")
    _insert(
        conn,
        "model_version_datasets",
        version_id=second,
        position=0,
        name="train",
        digest=f"sha256:{name}",
        source_uri="s3://data/train",
    )
    _insert(
        conn, "registered_model_aliases", model_id=model_id, alias="champion", version_id=second
    )
    if held:
        third = _version(conn, model_id, 3, 4, source=f"models:/{name}/3", artifacts_held=True)
        _insert(
            conn,
            "model_version_files",
            version_id=third,
            path="model.bin",
            state="stored",
            size=3,
            sha256=SHA,
            started_time=T0 + 4,
        )
    events = [
        (None, "model_created", {}, {"name": name}),
        (1, "version_created", {}, {"source": "s3://bucket/1"}),
        (2, "version_created", {}, {"source": "s3://bucket/2"}),
        (2, "version_stage_changed", {"stage": "None"}, {"stage": "Production"}),
        (2, "alias_set", {}, {"alias": "champion", "version": 2}),
    ]
    for offset, (version, kind, before, after) in enumerate(events):
        row = {
            "model_id": model_id,
            "model_name": name,
            "version": version,
            "kind": kind,
            "actor": "alice",
            "event_time": T0 + offset,
            "before": json.dumps(before),
            "after": json.dumps(after),
        }
        if revision >= "0003":
            row["alias"] = after.get("alias")
        _insert(conn, "model_events", **row)
    if revision >= "0005":
        # Rows that reference the model: a table rebuild (0006 on SQLite) that
        # dropped the model's table with foreign keys on would delete them.
        _insert(conn, "model_grants", model_id=model_id, principal="ci", role="writer")
        _insert(conn, "model_protections", model_id=model_id, kind="alias", name="champion")


def _check_seeded(url: str, revision: str, name: str, tmp_path: Path) -> None:
    """What `_seed` wrote, read back through the server and the public client."""
    running = start(
        ServerConfig(database_url=url, artifact_store=str(tmp_path / "store"), listen="127.0.0.1:0")
    )
    try:
        with RegistryClient(f"127.0.0.1:{running.port}") as client:
            model = client.get_registered_model(name)
            assert model.description == f"seeded at {revision}"
            assert model.tags == {"team": "risk"}
            assert model.aliases == {"champion": 2}
            assert model.creation_timestamp == T0
            champion = client.resolve(f"models:/{name}@champion").model_version
            assert (champion.version, champion.current_stage) == (2, "Production")
            assert champion.tags == {"validated": "yes"}
            assert champion.lineage.parent_model_uri == f"models:/{name}/1"
            assert [d.digest for d in champion.lineage.datasets] == [f"sha256:{name}"]
            assert client.get_model_version(name, 1).current_stage == "Archived"
            by_dataset = client.find_model_versions_by_dataset(f"sha256:{name}")
            assert [(v.name, v.version) for v in by_dataset] == [(name, 2)]
            found = client.search_registered_models(f"name = '{name}' AND tags.team = 'risk'")
            assert [m.name for m in found] == [name]
            # 0003 moved the alias out of the JSON into a column; older rows were backfilled.
            alias_events = client.list_model_events(name, alias="champion").events
            assert [(e.kind, e.version) for e in alias_events] == [("alias_set", 2)]
            assert len(list(client.iter_model_events(name))) == 5
            if revision >= "0005":
                assert [(g.principal, g.role) for g in client.list_model_grants(name)] == [
                    ("ci", "writer")
                ]
                assert model.protected_aliases == ("champion",)
            if revision >= "0002":
                held = client.get_model_version(name, 3)
                assert held.registry_held_artifacts
                files = client.list_artifacts(name, 3)
                assert [(f.path, f.size, f.sha256) for f in files] == [("model.bin", 3, SHA)]
            # The upgraded schema takes new writes next to the old rows.
            created = client.create_model_version(name, source="s3://bucket/new")
            assert created.version == (4 if revision >= "0002" else 3)
            client.set_registered_model_alias(name, "champion", created.version)
    finally:
        running.stop(grace=0)


@pytest.mark.slow
@pytest.mark.parametrize("revision", EARLIER)
def test_data_written_at_an_earlier_revision_survives_the_upgrade_to_head(
    empty_database: str, revision: str, tmp_path: Path
) -> None:
    engine = make_engine(empty_database, pool_size=1)
    try:
        _upgrade_to(engine, revision)
        with engine.begin() as conn:
            _seed(conn, revision, f"seeded-{revision}")
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
    _assert_schema_matches_models(empty_database)
    _check_seeded(empty_database, revision, f"seeded-{revision}", tmp_path)


def test_head_downgrades_one_revision_and_upgrades_again(
    empty_database: str, tmp_path: Path
) -> None:
    head = migrate.head_revision()
    previous = ScriptDirectory(migrate.script_location()).get_revision(head).down_revision
    assert isinstance(previous, str)
    engine = make_engine(empty_database, pool_size=1)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            _seed(conn, previous, "round-trip")
        _downgrade_to(engine, previous)
        assert migrate.current_revision(engine) == previous
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    _assert_schema_matches_models(empty_database)
    _check_seeded(empty_database, previous, "round-trip", tmp_path)


def test_sqlite_upgrade_gives_models_that_shared_an_id_their_own_histories(tmp_path: Path) -> None:
    """Before 0006 SQLite gave a new model the id of the newest deleted one; the
    upgrade separates their histories, and no id is used twice from then on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'reused.db'}", pool_size=1)
    try:
        _upgrade_to(engine, "0005")
        with engine.begin() as conn:
            for offset, (name, kind) in enumerate(
                [("old", "model_created"), ("old", "model_deleted"), ("new", "model_created")]
            ):
                _insert(
                    conn,
                    "model_events",
                    model_id=1,
                    model_name=name,
                    kind=kind,
                    actor="alice",
                    event_time=T0 + offset,
                    before="{}",
                    after="{}",
                )
            _insert(
                conn,
                "registered_models",
                id=1,
                name="new",
                creation_time=T0 + 2,
                last_updated_time=T0 + 2,
            )
            _insert(conn, "model_grants", model_id=1, principal="ci", role="reader")
        migrate.upgrade(engine)
        with engine.begin() as conn:
            owners = conn.execute(
                text("SELECT model_name, model_id FROM model_events ORDER BY id")
            ).all()
            assert owners[2] == ("new", 1)
            assert owners[0] == owners[1] == ("old", 2)
            grants = conn.execute(text("SELECT model_id, principal FROM model_grants")).all()
            assert grants == [(1, "ci")]
            conn.execute(text("DELETE FROM registered_models WHERE id = 1"))
            _insert(conn, "registered_models", name="newer", creation_time=T0, last_updated_time=T0)
            newer = conn.execute(text("SELECT id FROM registered_models WHERE name = 'newer'"))
            assert newer.scalar_one() == 3  # not 1, nor the old model's 2
    finally:
        engine.dispose()
