"""access control: tokens, per-model grants, protected aliases and stages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:00:00

Only new tables: the previous release runs unchanged on this schema (it just
does not enforce them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=256), server_default="", nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("expiration_time", sa.BigInteger(), nullable=True),
        sa.Column("revocation_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_access_tokens_secret_hash")),
    )
    op.create_table(
        "model_grants",
        sa.Column("model_id", _ID, nullable=False),
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_model_grants_model_id_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "principal", name=op.f("pk_model_grants")),
    )
    op.create_index(op.f("ix_model_grants_principal"), "model_grants", ["principal"])
    op.create_table(
        "model_protections",
        sa.Column("model_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_model_protections_model_id_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "kind", "name", name=op.f("pk_model_protections")),
    )


def downgrade() -> None:
    op.drop_table("model_protections")
    op.drop_index(op.f("ix_model_grants_principal"), table_name="model_grants")
    op.drop_table("model_grants")
    op.drop_table("access_tokens")
