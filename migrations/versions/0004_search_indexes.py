"""search indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00

Indexes for SearchRegisteredModels / SearchModelVersions (see
registry_server/store/schema.py for why each exists): name prefix matching on
PostgreSQL, (time, id) keyset orders, tag value equality, data set names.
Only indexes are added, so the previous release runs unchanged on this schema.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_registered_models_name_pattern",
        "registered_models",
        ["name"],
        postgresql_ops={"name": "varchar_pattern_ops"},
    )
    op.create_index(
        op.f("ix_registered_models_creation_time_id"), "registered_models", ["creation_time", "id"]
    )
    op.create_index(
        op.f("ix_registered_models_last_updated_time_id"),
        "registered_models",
        ["last_updated_time", "id"],
    )
    op.create_index(
        op.f("ix_model_versions_creation_time_id"), "model_versions", ["creation_time", "id"]
    )
    op.create_index(
        op.f("ix_model_versions_last_updated_time_id"),
        "model_versions",
        ["last_updated_time", "id"],
    )
    op.create_index(
        "ix_registered_model_tags_value_hash",
        "registered_model_tags",
        ["value"],
        postgresql_using="hash",
    )
    op.create_index(
        "ix_model_version_tags_value_hash",
        "model_version_tags",
        ["value"],
        postgresql_using="hash",
    )
    op.create_index(op.f("ix_model_version_datasets_name"), "model_version_datasets", ["name"])


def downgrade() -> None:
    op.drop_index(op.f("ix_model_version_datasets_name"), table_name="model_version_datasets")
    op.drop_index("ix_model_version_tags_value_hash", table_name="model_version_tags")
    op.drop_index("ix_registered_model_tags_value_hash", table_name="registered_model_tags")
    op.drop_index(op.f("ix_model_versions_last_updated_time_id"), table_name="model_versions")
    op.drop_index(op.f("ix_model_versions_creation_time_id"), table_name="model_versions")
    op.drop_index(op.f("ix_registered_models_last_updated_time_id"), table_name="registered_models")
    op.drop_index(op.f("ix_registered_models_creation_time_id"), table_name="registered_models")
    op.drop_index("ix_registered_models_name_pattern", table_name="registered_models")
