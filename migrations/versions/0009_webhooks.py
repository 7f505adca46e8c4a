"""Webhooks, and an outbox of their deliveries filled by a trigger

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:00:00

Four new tables: `webhooks` with its two filters (`webhook_event_kinds`,
`webhook_models`; no rows: everything) and `webhook_deliveries`, the outbox
every replica's sender claims from (events/webhook_sender.py).

A delivery row must be written in the event's own transaction, so that a
crash between the commit and the send loses nothing and a rolled-back change
queues nothing. A trigger on model_events does it: every writer (the unit of
work, the one-statement version create on PostgreSQL, the importer, refusals)
gets it without a change and without an extra round trip. On PostgreSQL it is
statement-level over the transition table (one INSERT ... SELECT per
statement, whatever the number of events), and returns at once while no
webhook is enabled; on SQLite it is per row.

Note for later migrations: a SQLite table rebuild of model_events (batch
mode) drops this trigger; re-create it after.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The webhooks an event `e` goes to: enabled, and each filter empty or matching.
# The history of webhook administration itself (webhook_created, _updated,
# _deleted) goes only to webhooks that list those kinds: an empty kind filter
# means every change to the registry's models and access, not a webhook
# hearing about its own creation.
_MATCHING = """
    FROM webhooks w
    WHERE w.enabled
      AND ((NOT EXISTS (SELECT 1 FROM webhook_event_kinds k WHERE k.webhook_id = w.id)
            AND {kind} NOT IN ('webhook_created', 'webhook_updated', 'webhook_deleted'))
           OR EXISTS (SELECT 1 FROM webhook_event_kinds k
                      WHERE k.webhook_id = w.id AND k.kind = {kind}))
      AND (NOT EXISTS (SELECT 1 FROM webhook_models m WHERE m.webhook_id = w.id)
           OR EXISTS (SELECT 1 FROM webhook_models m
                      WHERE m.webhook_id = w.id AND m.model_name = {model_name}))
"""


def _create_tables() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("enabled", sa.Boolean(name="enabled"), server_default=sa.true(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sqlite_autoincrement=True,
    )
    for table, column in (("webhook_event_kinds", "kind"), ("webhook_models", "model_name")):
        op.create_table(
            table,
            sa.Column("webhook_id", _ID, nullable=False),
            sa.Column(column, sa.String(length=64 if column == "kind" else 256), nullable=False),
            sa.ForeignKeyConstraint(
                ["webhook_id"],
                ["webhooks.id"],
                name=op.f(f"fk_{table}_webhook_id_webhooks"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("webhook_id", column, name=op.f(f"pk_{table}")),
        )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("webhook_id", _ID, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_attempt_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_webhook_deliveries_status_next_attempt_ms"),
        "webhook_deliveries",
        ["status", "next_attempt_ms"],
    )
    op.create_index(
        op.f("ix_webhook_deliveries_webhook_id_id"), "webhook_deliveries", ["webhook_id", "id"]
    )


_COLUMNS = "webhook_id, event_id, kind, next_attempt_ms, created_ms"


def upgrade() -> None:
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        matching = _MATCHING.format(kind="e.kind", model_name="e.model_name")
        op.execute(
            f"""
            CREATE FUNCTION registry_queue_webhook_deliveries() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM webhooks WHERE enabled) THEN
                    RETURN NULL;
                END IF;
                INSERT INTO webhook_deliveries ({_COLUMNS})
                SELECT w.id, e.id, e.kind, e.event_time, e.event_time
                {matching.replace("FROM webhooks w", "FROM new_events e CROSS JOIN webhooks w")}
                ORDER BY e.id, w.id;
                RETURN NULL;
            END
            $$
            """
        )
        op.execute(
            """
            CREATE TRIGGER model_events_webhooks AFTER INSERT ON model_events
            REFERENCING NEW TABLE AS new_events
            FOR EACH STATEMENT EXECUTE FUNCTION registry_queue_webhook_deliveries()
            """
        )
    else:
        matching = _MATCHING.format(kind="NEW.kind", model_name="NEW.model_name")
        op.execute(
            f"""
            CREATE TRIGGER model_events_webhooks AFTER INSERT ON model_events
            BEGIN
                INSERT INTO webhook_deliveries ({_COLUMNS})
                SELECT w.id, NEW.id, NEW.kind, NEW.event_time, NEW.event_time
                {matching};
            END
            """
        )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER model_events_webhooks"
        + (" ON model_events" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION registry_queue_webhook_deliveries()")
    op.drop_index(op.f("ix_webhook_deliveries_webhook_id_id"), table_name="webhook_deliveries")
    op.drop_index(
        op.f("ix_webhook_deliveries_status_next_attempt_ms"), table_name="webhook_deliveries"
    )
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_models")
    op.drop_table("webhook_event_kinds")
    op.drop_table("webhooks")
