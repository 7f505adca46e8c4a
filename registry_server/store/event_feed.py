"""The reads behind the watch feed (registry_server/events/feed.py).

Each read of new events also returns the snapshot it was taken in, in the
same statement (PostgreSQL evaluates `pg_current_snapshot()` against the
statement's own snapshot), because the horizon rule (events/horizon.py)
reasons about exactly the transactions that snapshot saw in flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, func, select, text

from registry_server.domain.entities import ModelEvent
from registry_server.store.events import to_entity
from registry_server.store.schema import model_events as events_t

_COLUMNS = "id, model_id, model_name, version, kind, actor, event_time, before, after, alias"

_PG_READ = text(
    f"""
    SELECT s.snap, e.*
    FROM (SELECT pg_current_snapshot()::text AS snap) AS s
    LEFT JOIN LATERAL (
        SELECT {_COLUMNS} FROM model_events WHERE id > :after ORDER BY id LIMIT :n
    ) AS e ON true
    """
)
_PG_TOP = text(
    "SELECT pg_current_snapshot()::text AS snap, (SELECT max(id) FROM model_events) AS top"
)
_SQLITE_READ = text(f"SELECT {_COLUMNS} FROM model_events WHERE id > :after ORDER BY id LIMIT :n")


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event with what watch filters match on besides the event itself."""

    event: ModelEvent
    model_id: int
    alias: str | None

    @property
    def event_id(self) -> int:
        return self.event.event_id


def top(conn: Connection) -> tuple[str | None, int]:
    """(snapshot text on PostgreSQL, else None; the largest visible event id)."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(_PG_TOP).one()
        return str(row.snap), int(row.top or 0)
    found = conn.execute(select(func.max(events_t.c.id))).scalar()
    return None, int(found or 0)


def next_transaction_id(conn: Connection) -> int:
    """A transaction id taken now (PostgreSQL): larger than that of every
    transaction that had one before (see events/horizon.py). It costs the
    reading connection a transaction id and a commit record."""
    return int(conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())


def read_after(conn: Connection, after: int, limit: int) -> tuple[str | None, list[FeedEvent]]:
    """Up to `limit` visible events with id > `after`, ascending, and (on
    PostgreSQL) the snapshot they were read in."""
    params = {"after": after, "n": limit}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_PG_READ, params).all()
        snap = str(rows[0].snap)
        return snap, [_feed_event(r) for r in rows if r.id is not None]
    return None, [_feed_event(r) for r in conn.execute(_SQLITE_READ, params)]


def _feed_event(row: object) -> FeedEvent:
    return FeedEvent(to_entity(row), int(row.model_id), row.alias)  # type: ignore[attr-defined]


def shown(conn: Connection, ids: Sequence[int], restrict: ColumnElement[bool]) -> set[int]:
    """Which of these event ids satisfy `restrict` (a caller's read and
    history restrictions, domain/access.py), in one query."""
    if not ids:
        return set()
    rows = conn.execute(select(events_t.c.id).where(events_t.c.id.in_(list(ids)), restrict))
    return {int(r.id) for r in rows}
