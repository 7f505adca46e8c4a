"""The audit log: one row per change, written in the change's transaction.

Reads come in two shapes, each a single SELECT with bound parameters:
filtered pages (ListModelEvents) and the replay of one model's history up to a
moment (GetModelStateAsOf). Both find "the model called X" inside the query
(`_History`), so the hit path is one round trip; only an empty answer
costs a second query to tell "no such model" from "nothing matched".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select

from registry_server.domain.entities import EventQuery, ModelEvent
from registry_server.domain.events import ALIAS_KINDS, EventKind, bounded_payload
from registry_server.store.schema import model_events as events_t
from registry_server.store.schema import registered_models as models_t
from registry_server.store.sql import load_json

# Every kind the registry writes (ModelEvent.kind in the proto). `row`
# refuses others, so the ListModelEvents `kinds` filter, which accepts only
# these, can never hide a kind that exists in the log.
EVENT_KINDS = frozenset(EventKind)


def row(
    *,
    model_id: int,
    model_name: str,
    kind: EventKind,
    actor: str,
    now: int,
    version: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One event's column values, for `insert`."""
    if kind not in EVENT_KINDS:
        # A programming error: a new kind must be added to EventKind (and
        # documented in the proto) or the history filters could not find it.
        raise ValueError(f"unknown event kind {kind!r}")
    return {
        "model_id": model_id,
        "model_name": model_name,
        "version": version,
        # The stored string itself, not the enum member (a str subclass).
        "kind": str(kind),
        "actor": actor,
        "event_time": now,
        # Large values as summaries (domain/events.py: bounded payloads).
        "before": bounded_payload(before or {}),
        "after": bounded_payload(after or {}),
        "alias": (after or {}).get("alias") or (before or {}).get("alias")
        if kind in ALIAS_KINDS
        else None,
    }


# One statement object for every insert: SQLAlchemy reuses its compiled form,
# and several rows go in one round trip.
_INSERT = events_t.insert()


def insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write events built by `row` (several in one statement)."""
    if rows:
        conn.execute(_INSERT, rows)


def to_entity(row: Any) -> ModelEvent:
    """A `model_events` row as the domain's event."""
    return ModelEvent(
        event_id=int(row.id),
        timestamp=int(row.event_time),
        actor=row.actor,
        kind=row.kind,
        model_name=row.model_name,
        version=row.version,
        # Events stored before payloads were bounded are summarised here.
        before=bounded_payload(load_json(row.before, {})),
        after=bounded_payload(load_json(row.after, {})),
    )


class _History:
    """The events a model name designates, as SQL conditions on `model_events`.

    The name means the live model of that name, else the most recently
    deleted model that had that name when it was deleted. Everything is
    scalar sub-selects (evaluated once per statement, on indexes), so callers
    stay at one round trip. A model id is never used twice (on SQLite since
    migration 0006, AUTOINCREMENT), so an id designates one model's history.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.live = (
            select(models_t.c.id).where(models_t.c.name == name).correlate(None).scalar_subquery()
        )
        self.dead_model_id = self._last_deletion(events_t.alias("deleted_e").c.model_id)
        self.model_id = func.coalesce(self.live, self.dead_model_id)

    def _last_deletion(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """`column` of the newest model_deleted event under this name."""
        table = column.table
        return (
            select(column)
            .where(table.c.model_name == self.name, table.c.kind == EventKind.MODEL_DELETED.value)
            .order_by(table.c.id.desc())
            .limit(1)
            .correlate(None)
            .scalar_subquery()
        )

    def conditions(self, e: Any) -> list[ColumnElement[bool]]:
        """Restrict `e` (model_events or an alias of it) to this history."""
        return [e.c.model_id == self.model_id]


def _history(conn: Connection, name: str) -> _History:
    return _History(name)


def model_id_for_name(conn: Connection, name: str) -> int | None:
    """The model a name designates in history (see `_History`), for the miss
    path: None means no live model and no deleted one of that name."""
    found = conn.execute(select(_history(conn, name).model_id)).scalar()
    return int(found) if found is not None else None


#: The column a read restriction (AccessControl.read_restriction) applies to.
MODEL_ID = events_t.c.model_id


def page(
    conn: Connection,
    query: EventQuery,
    limit: int,
    restrict: ColumnElement[bool] | None = None,
) -> list[ModelEvent]:
    """Up to `limit` events matching every filter of `query`, oldest first.

    `query` is already checked (version only with a name, known kinds, sane
    time range); each filter lands on an index of 0003 where one fits.
    """
    e = events_t
    stmt = select(e).where(e.c.id > query.after_event_id)
    if query.name:
        stmt = stmt.where(*_history(conn, query.name).conditions(e))
    if query.version:
        stmt = stmt.where(e.c.version == query.version)
    if query.alias:
        stmt = stmt.where(e.c.alias == query.alias)
    if query.kinds:
        stmt = stmt.where(e.c.kind.in_(sorted(set(query.kinds))))
    if query.actor:
        stmt = stmt.where(e.c.actor == query.actor)
    if query.since_ms:
        stmt = stmt.where(e.c.event_time >= query.since_ms)
    if query.until_ms:
        stmt = stmt.where(e.c.event_time < query.until_ms)
    if restrict is not None:
        stmt = stmt.where(restrict)
    return [to_entity(r) for r in conn.execute(stmt.order_by(e.c.id).limit(limit))]


def _replay_select(history: _History, as_of_ms: int, kinds: Iterable[str]) -> Select[Any]:
    e = events_t
    newest = events_t.alias("newest_e")
    last_id = (
        select(func.max(newest.c.id))
        .where(*history.conditions(newest), newest.c.event_time <= as_of_ms)
        .correlate(None)
        .scalar_subquery()
    )
    return (
        select(e, last_id.label("last_event_id"))
        .where(*history.conditions(e), e.c.event_time <= as_of_ms, e.c.kind.in_(sorted(kinds)))
        .order_by(e.c.id)
    )


def replay(
    conn: Connection, name: str, as_of_ms: int, kinds: Iterable[str]
) -> tuple[list[ModelEvent], int]:
    """The events of the kinds given, of the model `name` designates, written
    at or before `as_of_ms`, in id order; and the id of the model's newest
    event of any kind up to then (0: none).

    One query. Ordered by id, not time: ids follow commit order per model
    (every mutation holds the model's row lock), timestamps may not.
    """
    rows = conn.execute(_replay_select(_history(conn, name), as_of_ms, kinds)).all()
    if not rows:
        return [], 0
    return [to_entity(r) for r in rows], int(rows[0].last_event_id)


def first_event_time(conn: Connection, name: str) -> int | None:
    """When the history `name` designates starts (its model_created event)."""
    found = conn.execute(
        select(events_t.c.event_time)
        .where(*_history(conn, name).conditions(events_t))
        .order_by(events_t.c.id)
        .limit(1)
    ).scalar_one_or_none()
    return int(found) if found is not None else None
