"""Repository functions for aliases (model-scoped name -> version)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_aliases as aliases_t
from registry_server.store.sql import upsert


def current_version(conn: Connection, model_id: int, alias: str) -> int | None:
    """The version number the alias points at, or None."""
    return conn.execute(
        select(versions_t.c.version)
        .select_from(aliases_t.join(versions_t, versions_t.c.id == aliases_t.c.version_id))
        .where(aliases_t.c.model_id == model_id, aliases_t.c.alias == alias)
    ).scalar_one_or_none()


def of_model(conn: Connection, model_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(aliases_t.c.alias, versions_t.c.version)
        .select_from(aliases_t.join(versions_t, versions_t.c.id == aliases_t.c.version_id))
        .where(aliases_t.c.model_id == model_id)
        .order_by(aliases_t.c.alias)
    )
    return {alias: int(version) for alias, version in rows}


def of_version(conn: Connection, version_id: int) -> list[str]:
    return sorted(
        conn.execute(
            select(aliases_t.c.alias).where(aliases_t.c.version_id == version_id)
        ).scalars()
    )


def point(conn: Connection, model_id: int, alias: str, version_id: int) -> None:
    """Create the alias or move it: one statement, so readers never see a gap."""
    upsert(
        conn,
        aliases_t,
        {"model_id": model_id, "alias": alias, "version_id": version_id},
        ["model_id", "alias"],
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
