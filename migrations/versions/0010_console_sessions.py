"""Web console sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:00:00

One table, `console_sessions`: a signed-in browser's session (the SHA-256 of
the random id in its cookie), the access token it was opened with, and when
it expires. Shared by every replica, so any of them accepts the cookie and a
sign-out on one is a sign-out everywhere (registry_server/console/sessions.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("token_id", _ID, nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("expiration_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_console_sessions"),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["access_tokens.id"],
            name="fk_console_sessions_token_id_access_tokens",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_console_sessions_expiration_time", "console_sessions", ["expiration_time"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_expiration_time", table_name="console_sessions")
    op.drop_table("console_sessions")
