"""Schema migrations: upgrade from empty, models match migrations, startup checks."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

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
