"""The audit log: one row per change, written in the change's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, exists, select

from registry_server.domain.entities import ModelEvent
from registry_server.store.schema import model_events as events_t
from registry_server.store.sql import load_json

ALIAS_KINDS = frozenset({"alias_set", "alias_deleted"})


def record(
    conn: Connection,
    *,
    model_id: int,
    model_name: str,
    kind: str,
    actor: str,
    now: int,
    version: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        events_t.insert().values(
            model_id=model_id,
            model_name=model_name,
            version=version,
            kind=kind,
            actor=actor,
            event_time=now,
            before=before or {},
            after=after or {},
            alias=(after or {}).get("alias") or (before or {}).get("alias")
            if kind in ALIAS_KINDS
            else None,
        )
    )


def _to_entity(row: Any) -> ModelEvent:
    return ModelEvent(
        event_id=int(row.id),
        timestamp=int(row.event_time),
        actor=row.actor,
        kind=row.kind,
        model_name=row.model_name,
        version=row.version,
        before=load_json(row.before, {}),
        after=load_json(row.after, {}),
    )


def page_for_model(
    conn: Connection, model_id: int, after_event_id: int, limit: int
) -> list[ModelEvent]:
    rows = conn.execute(
        select(events_t)
        .where(events_t.c.model_id == model_id, events_t.c.id > after_event_id)
        .order_by(events_t.c.id)
        .limit(limit)
    )
    return [_to_entity(r) for r in rows]


def deleted_model_id(conn: Connection, name: str) -> int | None:
    """The id of the most recently deleted model that had this name, if any."""
    return conn.execute(
        select(events_t.c.model_id)
        .where(events_t.c.model_name == name, events_t.c.kind == "model_deleted")
        .order_by(events_t.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def any_for_model(conn: Connection, model_id: int) -> bool:
    return bool(conn.execute(select(exists().where(events_t.c.model_id == model_id))).scalar())
