"""SQLite: ids of deleted models and versions are never used again (AUTOINCREMENT)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:30:00

Without AUTOINCREMENT, SQLite gives a new row the highest id in the table plus
one, so a model created right after the newest one was deleted got its id: its
history, grants and artifact prefix (all keyed by model id) would have met the
deleted model's, and the read side had to tell the two apart. With it, SQLite
keeps the highest id ever used (in `sqlite_sequence`), like PostgreSQL's
sequences. PostgreSQL is untouched.

SQLite cannot add AUTOINCREMENT to a table: `registered_models` and
`model_versions` are rebuilt (alembic's batch mode: create the new table, copy
the rows, drop the old one, rename), which is SQLite's "12-step" procedure.
Dropping a table with foreign keys on deletes the rows that reference it
(ON DELETE CASCADE: every tag, version, alias, grant ...), and
`PRAGMA foreign_keys` cannot change inside a transaction: so the migration
commits what came before, turns foreign keys off, rebuilds in a transaction of
its own (where it also gives each model whose id was reused an id of its own in
the history, `_separate_reused_histories`), checks every reference
(`PRAGMA foreign_key_check`), commits and turns them on again before alembic
records the revision. The rebuild is idempotent:
interrupted before the revision is recorded, it is simply done again.

Downgrading keeps AUTOINCREMENT: revision 0005's code runs unchanged on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Parents first: model_versions references registered_models.
TABLES = ("registered_models", "model_versions")


def _sqlite_statement(conn: sa.Connection, sql: str) -> None:
    """Straight to SQLite: the connection runs in autocommit at the driver
    level (store/database.py), so COMMIT and BEGIN here end and start
    transactions, and a PRAGMA between them takes effect."""
    conn.exec_driver_sql(sql)


def _separate_reused_histories(conn: sa.Connection) -> int:
    """Give each earlier model that had a reused id its own id in the history.

    Before this revision one `model_events.model_id` could carry several
    models' histories, one after another, each but the last ended by its
    `model_deleted` event. Each ended one gets an id of its own (above every
    id used so far), so that the history needs no rule to tell them apart.
    Returns the first id still free."""
    top = conn.exec_driver_sql(
        "SELECT max(coalesce((SELECT max(id) FROM registered_models), 0),"
        " coalesce((SELECT max(model_id) FROM model_events), 0))"
    ).scalar_one()
    next_id = int(top) + 1
    deletions = conn.exec_driver_sql(
        "SELECT model_id, id FROM model_events WHERE kind = 'model_deleted' AND model_id > 0"
        " ORDER BY model_id, id"
    ).fetchall()
    start: dict[int, int] = {}
    for model_id, deleted_at in deletions:
        later = conn.exec_driver_sql(
            "SELECT 1 FROM model_events WHERE model_id = ? AND id > ? LIMIT 1",
            (model_id, deleted_at),
        ).first()
        if later is None:
            continue  # the last model with that id: it keeps it
        conn.exec_driver_sql(
            "UPDATE model_events SET model_id = ? WHERE model_id = ? AND id > ? AND id <= ?",
            (next_id, model_id, start.get(model_id, 0), deleted_at),
        )
        start[model_id] = deleted_at
        next_id += 1
    return next_id


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    _sqlite_statement(conn, "COMMIT")
    _sqlite_statement(conn, "PRAGMA foreign_keys=OFF")
    try:
        _sqlite_statement(conn, "BEGIN IMMEDIATE")
        for table in TABLES:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass
        next_id = _separate_reused_histories(conn)
        # Never again an id the history has seen, deleted models' included.
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'registered_models'")
        conn.exec_driver_sql(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('registered_models', ?)",
            (next_id - 1,),
        )
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"0006: references broken by the table rebuild: {broken[:10]}")
        _sqlite_statement(conn, "COMMIT")
    except BaseException:
        _sqlite_statement(conn, "ROLLBACK")
        raise
    finally:
        _sqlite_statement(conn, "PRAGMA foreign_keys=ON")
        # Alembic records the revision in a transaction of its own.
        _sqlite_statement(conn, "BEGIN IMMEDIATE")


def downgrade() -> None:
    """Nothing: AUTOINCREMENT only stops ids from being used again."""
