"""Event ids a watcher can trust, and a notification when events commit

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:20:00

WatchModelEvents (registry_server/events/) sends events in id order and must
never send id 12 and then miss id 11 that commits a moment later. On
PostgreSQL ids come from a sequence, so a transaction can commit a smaller id
after a larger one. The feed holds an id back until every transaction that was
in flight when a larger id became visible has ended (events/horizon.py). That
rule needs each transaction that draws an event id to be in flight *as a
transaction id* from before the draw: the id's default now asks for the
transaction id (`pg_current_xact_id()` assigns one if the transaction has none
yet) before taking `nextval`. Every writer today has already locked or written
a row by then; this makes it hold for any future writer too.

A statement-level trigger NOTIFYs channel `registry_events` for every INSERT
into model_events. PostgreSQL delivers it at commit, to every replica
listening, and never for a rolled-back transaction; several in one
transaction are folded into one. No round trip is added to any write.

SQLite needs neither: one writer at a time commits ids in order, and the
server wakes its own watchers after each commit (another process on the same
file is caught by the periodic read).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHANNEL = "registry_events"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION registry_next_event_id() RETURNS bigint
        LANGUAGE sql VOLATILE AS $$
            SELECT CASE WHEN pg_current_xact_id() IS NOT NULL
                        THEN nextval('model_events_id_seq') END
        $$
        """
    )
    op.execute("ALTER TABLE model_events ALTER COLUMN id SET DEFAULT registry_next_event_id()")
    op.execute(
        f"""
        CREATE FUNCTION registry_notify_events() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER model_events_notify AFTER INSERT ON model_events
        FOR EACH STATEMENT EXECUTE FUNCTION registry_notify_events()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER model_events_notify ON model_events")
    op.execute("DROP FUNCTION registry_notify_events()")
    op.execute(
        "ALTER TABLE model_events ALTER COLUMN id SET DEFAULT nextval('model_events_id_seq')"
    )
    op.execute("DROP FUNCTION registry_next_event_id()")
