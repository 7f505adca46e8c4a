"""Migration 0007: model names stored in another spelling than NFC are
rewritten in NFC (the one spelling requests are looked up in), with their
history; a name whose NFC form is taken gets a ``(duplicate <id>)`` suffix.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from registry_server import migrate
from registry_server.store.database import make_engine

# A migration run on seeded databases: the full run, not the fast lane.
pytestmark = pytest.mark.slow

T0 = 1_700_000_000_000
DECOMPOSED = "cafe\u0301"
COMPOSED = "caf\u00e9"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        yield request.getfixturevalue("empty_pg_database")


def _alembic(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", migrate.script_location())
    config.attributes["connection"] = conn
    return config


def _model(conn: Connection, name: str) -> int:
    conn.execute(
        text(
            "INSERT INTO registered_models (name, creation_time, last_updated_time) "
            "VALUES (:name, :t, :t)"
        ),
        {"name": name, "t": T0},
    )
    found = conn.execute(text("SELECT id FROM registered_models WHERE name = :n"), {"n": name})
    model_id = int(found.scalar_one())
    conn.execute(
        text(
            "INSERT INTO model_events (model_id, model_name, kind, actor, event_time, before,"
            " after) VALUES (:id, :name, 'model_created', 'alice', :t, '{}', '{}')"
        ),
        {"id": model_id, "name": name, "t": T0},
    )
    return model_id


def test_names_are_rewritten_in_nfc_with_their_history(empty_database: str) -> None:
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic(conn), "0006")
        with engine.begin() as conn:
            lone = _model(conn, f"lone-{DECOMPOSED}")
            taken = _model(conn, COMPOSED)
            twin = _model(conn, DECOMPOSED)
            plain = _model(conn, "plain")
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.begin() as conn:
            names = dict(conn.execute(text("SELECT id, name FROM registered_models")).all())
            history = dict(
                conn.execute(text("SELECT model_id, model_name FROM model_events")).all()
            )
    finally:
        engine.dispose()
    assert names == {
        lone: f"lone-{COMPOSED}",
        taken: COMPOSED,
        twin: f"{COMPOSED} (duplicate {twin})",
        plain: "plain",
    }
    assert history[lone] == f"lone-{COMPOSED}"
    assert history[twin] == f"{COMPOSED} (duplicate {twin})"
    assert history[plain] == "plain"
