"""Repository functions for aliases (model-scoped name -> version)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from registry_server.store.prepared import Statement
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_aliases as aliases_t
from registry_server.store.sql import upsert_statement

# Moving an alias runs these under the model's lock: built once and prepared
# on PostgreSQL (building and compiling them per call was most of a
# set-alias's Python CPU).
_CURRENT = Statement(
    select(versions_t.c.version)
    .select_from(aliases_t.join(versions_t, versions_t.c.id == aliases_t.c.version_id))
    .where(aliases_t.c.model_id == bindparam("model_id"), aliases_t.c.alias == bindparam("alias"))
)


@functools.cache
def _point(dialect: str) -> Statement:
    values: dict[str, Any] = {
        "model_id": bindparam("to_model_id"),
        "alias": bindparam("to_alias"),
        "version_id": bindparam("to_version_id"),
    }
    return Statement(upsert_statement(dialect, aliases_t, values, ["model_id", "alias"]))


def current_version(conn: Connection, model_id: int, alias: str) -> int | None:
    """The version number the alias points at, or None."""
    return _CURRENT.run(conn, {"model_id": model_id, "alias": alias}).scalar()


_OF_MODEL = Statement(
    select(aliases_t.c.alias, versions_t.c.version)
    .select_from(aliases_t.join(versions_t, versions_t.c.id == aliases_t.c.version_id))
    .where(aliases_t.c.model_id == bindparam("model_id"))
    .order_by(aliases_t.c.alias)
)


def of_model(conn: Connection, model_id: int) -> dict[str, int]:
    rows = _OF_MODEL.run(conn, {"model_id": model_id})
    return {alias: int(version) for alias, version in rows}


def of_version(conn: Connection, version_id: int) -> list[str]:
    return sorted(
        conn.execute(
            select(aliases_t.c.alias).where(aliases_t.c.version_id == version_id)
        ).scalars()
    )


def point(conn: Connection, model_id: int, alias: str, version_id: int) -> None:
    """Create the alias or move it: one statement, so readers never see a gap."""
    _point(conn.dialect.name).run(
        conn, {"to_model_id": model_id, "to_alias": alias, "to_version_id": version_id}
    )


def remove(conn: Connection, model_id: int, alias: str) -> None:
    conn.execute(
        delete(aliases_t).where(aliases_t.c.model_id == model_id, aliases_t.c.alias == alias)
    )


def remove_for_version(conn: Connection, version_id: int) -> list[str]:
    removed = of_version(conn, version_id)
    if removed:
        conn.execute(delete(aliases_t).where(aliases_t.c.version_id == version_id))
    return removed
