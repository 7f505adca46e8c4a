"""Webhooks and their outbox of deliveries: all the SQL.

Delivery rows for events are written by a trigger on model_events (migration
0009), in the event's own transaction; this module writes only pings. The
senders of every replica claim due rows here (`claim`): one UPDATE whose
sub-select takes the rows `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
replicas polling at once never claim the same row and never wait on each
other (on SQLite, whose writers are serialised, the same statement simply
runs alone). A claim sets `lease_until_ms`; a sender that dies mid-delivery
leaves the row to be claimed again once the lease lapses. The lease value is
also the claim's fencing token: a result is only written by the claim that
still holds the row (`finish`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from registry_server.store.schema import model_events as events_t
from registry_server.store.schema import webhook_deliveries as deliveries_t
from registry_server.store.schema import webhook_event_kinds as kinds_t
from registry_server.store.schema import webhook_models as models_t
from registry_server.store.schema import webhooks as webhooks_t
from registry_server.store.sql import load_json

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookRow:
    """A webhook with its filters, as stored (the secret still sealed)."""

    id: int
    url: str
    secret: str
    description: str
    enabled: bool
    creation_time: int
    last_updated_time: int
    created_by: str
    kinds: tuple[str, ...]
    models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a sender has claimed, with what it needs to send it."""

    id: int
    webhook_id: int
    lease_until_ms: int
    attempts: int
    created_ms: int
    kind: str
    url: str
    secret: str
    # The event (None for a ping).
    event: dict[str, Any] | None


def _filters(conn: Connection, ids: Sequence[int]) -> tuple[dict[int, list[str]], ...]:
    kinds: dict[int, list[str]] = {i: [] for i in ids}
    models: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for webhook_id, kind in conn.execute(
            select(kinds_t.c.webhook_id, kinds_t.c.kind)
            .where(kinds_t.c.webhook_id.in_(ids))
            .order_by(kinds_t.c.webhook_id, kinds_t.c.kind)
        ):
            kinds[webhook_id].append(kind)
        for webhook_id, name in conn.execute(
            select(models_t.c.webhook_id, models_t.c.model_name)
            .where(models_t.c.webhook_id.in_(ids))
            .order_by(models_t.c.webhook_id, models_t.c.model_name)
        ):
            models[webhook_id].append(name)
    return kinds, models


def _rows(conn: Connection, found: Sequence[Row[Any]]) -> list[WebhookRow]:
    kinds, models = _filters(conn, [int(r.id) for r in found])
    return [
        WebhookRow(
            id=int(r.id),
            url=r.url,
            secret=r.secret,
            description=r.description,
            enabled=bool(r.enabled),
            creation_time=int(r.creation_time),
            last_updated_time=int(r.last_updated_time),
            created_by=r.created_by,
            kinds=tuple(kinds[int(r.id)]),
            models=tuple(models[int(r.id)]),
        )
        for r in found
    ]


def get(conn: Connection, webhook_id: int, *, lock: bool = False) -> WebhookRow | None:
    stmt = select(webhooks_t).where(webhooks_t.c.id == webhook_id)
    if lock:
        stmt = stmt.with_for_update()
    found = conn.execute(stmt).all()
    return _rows(conn, found)[0] if found else None


def list_all(conn: Connection) -> list[WebhookRow]:
    """Every webhook, oldest first (there are few: one per receiving system)."""
    return _rows(conn, conn.execute(select(webhooks_t).order_by(webhooks_t.c.id)).all())


def _set_filters(
    conn: Connection, webhook_id: int, kinds: Sequence[str] | None, models: Sequence[str] | None
) -> None:
    if kinds is not None:
        conn.execute(delete(kinds_t).where(kinds_t.c.webhook_id == webhook_id))
        if kinds:
            conn.execute(
                insert(kinds_t), [{"webhook_id": webhook_id, "kind": k} for k in sorted(set(kinds))]
            )
    if models is not None:
        conn.execute(delete(models_t).where(models_t.c.webhook_id == webhook_id))
        if models:
            conn.execute(
                insert(models_t),
                [{"webhook_id": webhook_id, "model_name": m} for m in sorted(set(models))],
            )


def create(
    conn: Connection,
    *,
    url: str,
    secret: str,
    description: str,
    created_by: str,
    now: int,
    kinds: Sequence[str],
    models: Sequence[str],
) -> int:
    webhook_id = conn.execute(
        insert(webhooks_t)
        .values(
            url=url,
            secret=secret,
            description=description,
            enabled=True,
            creation_time=now,
            last_updated_time=now,
            created_by=created_by,
        )
        .returning(webhooks_t.c.id)
    ).scalar_one()
    _set_filters(conn, int(webhook_id), kinds, models)
    return int(webhook_id)


def update_webhook(
    conn: Connection,
    webhook_id: int,
    now: int,
    values: dict[str, Any],
    kinds: Sequence[str] | None,
    models: Sequence[str] | None,
) -> None:
    """Change the columns in `values` and replace the filters given (None: keep)."""
    conn.execute(
        update(webhooks_t)
        .where(webhooks_t.c.id == webhook_id)
        .values(**values, last_updated_time=now)
    )
    _set_filters(conn, webhook_id, kinds, models)


def delete_webhook(conn: Connection, webhook_id: int) -> bool:
    """Delete a webhook; its filters and deliveries go with it (ON DELETE CASCADE)."""
    return conn.execute(delete(webhooks_t).where(webhooks_t.c.id == webhook_id)).rowcount > 0


def queue_ping(conn: Connection, webhook_id: int, now: int) -> Row[Any]:
    delivery_id = conn.execute(
        insert(deliveries_t)
        .values(
            webhook_id=webhook_id,
            event_id=None,
            kind="ping",
            status=PENDING,
            next_attempt_ms=now,
            created_ms=now,
        )
        .returning(deliveries_t.c.id)
    ).scalar_one()
    return conn.execute(select(deliveries_t).where(deliveries_t.c.id == delivery_id)).one()


def deliveries(
    conn: Connection, webhook_id: int, status: str, before_id: int | None, limit: int
) -> list[Row[Any]]:
    """Up to `limit` deliveries of a webhook, newest first, with an id below
    `before_id` (None: from the newest); one range scan of (webhook_id, id)."""
    d = deliveries_t
    stmt = select(d).where(d.c.webhook_id == webhook_id)
    if status:
        stmt = stmt.where(d.c.status == status)
    if before_id is not None:
        stmt = stmt.where(d.c.id < before_id)
    return list(conn.execute(stmt.order_by(d.c.id.desc()).limit(limit)).all())


# -- the senders' side -------------------------------------------------------------


def _due(now: int, skip: Sequence[int]) -> list[Any]:
    d = deliveries_t
    due = [d.c.status == PENDING, d.c.next_attempt_ms <= now, d.c.lease_until_ms <= now]
    return [*due, d.c.webhook_id.not_in(skip)] if skip else due


def any_due(conn: Connection, now: int, skip: Sequence[int] = ()) -> bool:
    """Whether a delivery is waiting to be claimed (of a webhook not in
    `skip`): the idle poll, one index probe."""
    found = conn.execute(select(deliveries_t.c.id).where(*_due(now, skip)).limit(1)).first()
    return found is not None


def count_pending(conn: Connection) -> int:
    """Deliveries not yet delivered nor given up (registry_webhook_deliveries_pending,
    read when /metrics is scraped)."""
    found = conn.execute(
        select(func.count()).select_from(deliveries_t).where(deliveries_t.c.status == PENDING)
    ).scalar()
    return int(found or 0)


def claim(
    conn: Connection, now: int, lease_until: int, limit: int, skip: Sequence[int] = ()
) -> list[Claimed]:
    """Claim up to `limit` due deliveries (of webhooks not in `skip`) until
    `lease_until`, oldest due first, and read what sending them takes (the
    webhook's URL and secret, the event)."""
    d, w, e = deliveries_t, webhooks_t, events_t
    chosen = (
        select(d.c.id)
        .where(*_due(now, skip))
        .order_by(d.c.next_attempt_ms, d.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = [
        int(i)
        for i in conn.execute(
            update(d)
            .where(d.c.id.in_(chosen.scalar_subquery()))
            .values(lease_until_ms=lease_until)
            .returning(d.c.id)
        ).scalars()
    ]
    if not ids:
        return []
    rows = conn.execute(
        select(
            d.c.id,
            d.c.webhook_id,
            d.c.attempts,
            d.c.created_ms,
            d.c.kind,
            w.c.url,
            w.c.secret,
            e.c.id.label("event_id"),
            e.c.event_time,
            e.c.actor,
            e.c.model_name,
            e.c.version,
            e.c.before,
            e.c.after,
        )
        .join(w, w.c.id == d.c.webhook_id)
        .outerjoin(e, e.c.id == d.c.event_id)
        .where(d.c.id.in_(ids))
        .order_by(d.c.id)
    ).all()
    return [
        Claimed(
            id=int(r.id),
            webhook_id=int(r.webhook_id),
            lease_until_ms=lease_until,
            attempts=int(r.attempts),
            created_ms=int(r.created_ms),
            kind=r.kind,
            url=r.url,
            secret=r.secret,
            event=None
            if r.event_id is None
            else {
                "event_id": int(r.event_id),
                "timestamp": int(r.event_time),
                "actor": r.actor,
                "model_name": r.model_name,
                "version": r.version,
                "before": load_json(r.before, {}),
                "after": load_json(r.after, {}),
            },
        )
        for r in rows
    ]


#: What an attempt's outcome sets (every column, so that one statement takes
#: a batch of them).
OUTCOME = ("status", "attempts", "last_code", "last_error", "last_attempt_ms", "next_attempt_ms")

_FINISH = (
    update(deliveries_t)
    .where(
        deliveries_t.c.id == bindparam("b_id"),
        deliveries_t.c.lease_until_ms == bindparam("b_lease"),
    )
    .values({**{name: bindparam(f"b_{name}") for name in OUTCOME}, "lease_until_ms": 0})
)


def finish(conn: Connection, outcomes: Sequence[tuple[Claimed, dict[str, Any]]]) -> None:
    """Record attempts' outcomes (each a value per OUTCOME column) and release
    their claims, in one statement. A claim that had lapsed, the row taken by
    another sender, is left alone: that sender's result counts instead."""
    if outcomes:
        conn.execute(
            _FINISH,
            [
                {
                    "b_id": claimed.id,
                    "b_lease": claimed.lease_until_ms,
                    **{f"b_{name}": values[name] for name in OUTCOME},
                }
                for claimed, values in outcomes
            ],
        )
