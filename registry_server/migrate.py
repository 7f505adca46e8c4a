"""Schema migrations through alembic, for both PostgreSQL and SQLite.

The server never migrates PostgreSQL by itself (several replicas starting at
once must not race on DDL): `registry-server db upgrade` is a separate step and
`serve` refuses a schema that is behind. The embedded SQLite store has one
process by construction, so it is upgraded on start.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

log = logging.getLogger(__name__)


class SchemaBehind(Exception):
    """The database schema is older than this server."""


def script_location() -> str:
    spec = importlib.util.find_spec("registry_server.migrations")
    if spec is not None and spec.submodule_search_locations:
        return str(Path(next(iter(spec.submodule_search_locations))))
    return str(Path(__file__).resolve().parent.parent / "migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", script_location())
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision`, and log in one line what changed.

    One line instead of alembic's own: `registry-server` quiets the alembic
    loggers, which say at INFO on every start which plugins and DDL mode they use.
    """
    config = _config()
    with engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)


def ensure_current(engine: Engine) -> None:
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current is not None and current not in known:
        raise SchemaBehind(
            f"database schema is at revision {current}, which this server does not know "
            f"(it needs {head}): the database was upgraded by a newer registry-server; "
            "run that version instead"
        )
    if current != head:
        raise SchemaBehind(
            f"database schema is at revision {current or 'none (empty database)'}, "
            f"this server needs {head}: run `registry-server db upgrade "
            "--database-url ...` first"
        )
