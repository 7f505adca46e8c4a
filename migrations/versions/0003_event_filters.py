"""event filters: alias column and indexes on model_events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:00:00

The alias an alias_set / alias_deleted event concerns becomes a column, so
history can be filtered by alias with an index instead of by peeking into
JSON (whose operators differ between PostgreSQL and SQLite).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model_events", sa.Column("alias", sa.String(length=255), nullable=True))
    events = sa.table(
        "model_events",
        sa.column("id", sa.BigInteger()),
        sa.column("kind", sa.String()),
        sa.column("before", sa.JSON()),
        sa.column("after", sa.JSON()),
        sa.column("alias", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(events.c.id, events.c.before, events.c.after).where(
            events.c.kind.in_(["alias_set", "alias_deleted"])
        )
    ).all()
    for row_id, before, after in rows:
        before = json.loads(before) if isinstance(before, str) else (before or {})
        after = json.loads(after) if isinstance(after, str) else (after or {})
        alias = after.get("alias") or before.get("alias")
        if alias:
            conn.execute(sa.update(events).where(events.c.id == row_id).values(alias=alias))
    op.create_index(
        op.f("ix_model_events_model_id_alias_id"), "model_events", ["model_id", "alias", "id"]
    )
    op.create_index(op.f("ix_model_events_actor_id"), "model_events", ["actor", "id"])
    op.create_index(op.f("ix_model_events_event_time"), "model_events", ["event_time"])


def downgrade() -> None:
    op.drop_index(op.f("ix_model_events_event_time"), table_name="model_events")
    op.drop_index(op.f("ix_model_events_actor_id"), table_name="model_events")
    op.drop_index(op.f("ix_model_events_model_id_alias_id"), table_name="model_events")
    op.drop_column("model_events", "alias")
