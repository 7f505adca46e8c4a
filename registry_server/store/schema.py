"""The tables, as SQLAlchemy Core metadata.

Core rather than ORM classes: the hot reads are single SELECTs and measured
~5x cheaper without a Session. Every constraint and index is named through the
naming convention so alembic migrations stay identical on PostgreSQL and
SQLite. Timestamps are epoch milliseconds (BigInteger), as in the API.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    # Highest version number ever allocated; bumped under the row lock.
    Column("last_version", Integer, nullable=False, server_default="0"),
    Column("created_by", String(256), nullable=False, server_default=""),
    UniqueConstraint("name"),
    # Search: `name LIKE 'prefix%'` on PostgreSQL. Unless the database collation
    # is C, the unique index above cannot serve LIKE; a pattern_ops index can.
    # (On SQLite this is a plain second index on name.)
    Index(
        "ix_registered_models_name_pattern",
        "name",
        postgresql_ops={"name": "varchar_pattern_ops"},
    ),
    # Search ordered by time: (key, id) is the keyset order, one index scan.
    Index(None, "creation_time", "id"),
    Index(None, "last_updated_time", "id"),
    # SQLite: never reuse the id of a deleted model (migration 0006).
    sqlite_autoincrement=True,
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "model_id",
        BigId,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    # Search `tags.k = 'v'`: values go up to 64 KiB, beyond what a PostgreSQL
    # btree entry may hold, so equality is indexed by hash (PostgreSQL only;
    # SQLite builds a plain index, which has no size limit).
    Index("ix_registered_model_tags_value_hash", "value", postgresql_using="hash"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        BigId,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("source", Text, nullable=False, server_default=""),
    Column("stage", String(20), nullable=False, server_default="None"),
    Column("status", String(32), nullable=False, server_default="READY"),
    Column("status_message", Text, nullable=False, server_default=""),
    Column("created_by", String(256), nullable=False, server_default=""),
    Column("run_id", String(256), nullable=False, server_default=""),
    Column("run_link", Text, nullable=False, server_default=""),
    Column("experiment_id", String(256), nullable=False, server_default=""),
    Column("code_version", String(256), nullable=False, server_default=""),
    # Canonical models:/<name>/<version> of the parent at creation time, and a
    # link to its row (NULL once the parent is deleted; the URI stays).
    Column("parent_model_uri", Text, nullable=False, server_default=""),
    Column(
        "parent_version_id",
        BigId,
        ForeignKey("model_versions.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("idempotency_key", String(256), nullable=True),
    # True when the registry holds the files (model_version_files lists them).
    Column(
        "artifacts_held", Boolean(name="artifacts_held"), nullable=False, server_default=sa_false()
    ),
    UniqueConstraint("model_id", "version"),
    UniqueConstraint("model_id", "idempotency_key"),
    Index(None, "model_id", "stage", "version"),
    Index(None, "run_id"),
    Index(None, "parent_version_id"),
    Index(None, "creation_time", "id"),
    Index(None, "last_updated_time", "id"),
    sqlite_autoincrement=True,
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column(
        "version_id",
        BigId,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_model_version_tags_value_hash", "value", postgresql_using="hash"),
)

model_version_datasets = Table(
    "model_version_datasets",
    metadata,
    Column(
        "version_id",
        BigId,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("name", String(256), nullable=False, server_default=""),
    Column("digest", String(256), nullable=False, server_default=""),
    Column("source_uri", Text, nullable=False, server_default=""),
    Index(None, "digest"),
    Index(None, "name"),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column(
        "model_id",
        BigId,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(255), primary_key=True),
    Column(
        "version_id",
        BigId,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Index(None, "version_id"),
)

# Files of registry-held versions. A row is written when an upload starts
# (state 'uploading', which also stops a concurrent upload of the same path)
# and completed with size and sha256 when the bytes are stored.
model_version_files = Table(
    "model_version_files",
    metadata,
    Column(
        "version_id",
        BigId,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("path", String(1024), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("started_time", BigInteger, nullable=False),
)

# The audit log. No foreign key to the model: history outlives deletion.
model_events = Table(
    "model_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigInteger, nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("version", Integer, nullable=True),
    Column("kind", String(64), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("event_time", BigInteger, nullable=False),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
    # The alias an alias_set / alias_deleted event is about (NULL otherwise).
    Column("alias", String(255), nullable=True),
    Index(None, "model_id", "id"),
    Index(None, "model_name", "id"),
    Index(None, "model_id", "alias", "id"),
    Index(None, "actor", "id"),
    Index(None, "event_time"),
)

# Access tokens. Only a SHA-256 of the secret is stored: the secrets are 256
# random bits, so a fast hash is as safe as a slow one and keeps the
# per-call lookup cheap.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("principal", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_by", String(256), nullable=False, server_default=""),
    Column("creation_time", BigInteger, nullable=False),
    Column("expiration_time", BigInteger, nullable=True),
    Column("revocation_time", BigInteger, nullable=True),
    UniqueConstraint("secret_hash"),
)

# Per-model grants: `principal` has at least `role` on the model.
model_grants = Table(
    "model_grants",
    metadata,
    Column(
        "model_id",
        BigId,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("principal", String(256), primary_key=True),
    Column("role", String(16), nullable=False),
    Index(None, "principal"),
)

# Protected aliases ("alias", name) and stages ("stage", canonical name).
model_protections = Table(
    "model_protections",
    metadata,
    Column(
        "model_id",
        BigId,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("kind", String(8), primary_key=True),
    Column("name", String(255), primary_key=True),
)


# Webhooks (domain/webhooks.py, events/webhook_sender.py). `secret` is the
# signing secret, prefixed "fernet:" when encrypted with REGISTRY_WEBHOOK_KEY,
# "plain:" otherwise; it is never returned after creation.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("enabled", Boolean(name="enabled"), nullable=False, server_default=sa_true()),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False, server_default=""),
    sqlite_autoincrement=True,
)

# A webhook's kind filter: no rows means every kind.
webhook_event_kinds = Table(
    "webhook_event_kinds",
    metadata,
    Column("webhook_id", BigId, ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(64), primary_key=True),
)

# A webhook's model filter (names at the time of the event): no rows means
# every model.
webhook_models = Table(
    "webhook_models",
    metadata,
    Column("webhook_id", BigId, ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True),
    Column("model_name", String(256), primary_key=True),
)

# The outbox: one row per event (or ping) and webhook, written by a trigger
# on model_events in the event's own transaction (migration 0009).
# `lease_until_ms` is when a sender's claim lapses (0: unclaimed); it doubles
# as the claim's fencing token.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "webhook_id",
        BigId,
        ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # NULL for a ping.
    Column("event_id", BigInteger, nullable=True),
    Column("kind", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("lease_until_ms", BigInteger, nullable=False, server_default="0"),
    Column("last_code", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_attempt_ms", BigInteger, nullable=False, server_default="0"),
    Index(None, "status", "next_attempt_ms"),
    Index(None, "webhook_id", "id"),
    sqlite_autoincrement=True,
)

# Web console sign-ins (registry_server/console/): a session is a random id
# held in an HttpOnly cookie; only its SHA-256 is stored, with the access
# token it was opened with. Every request joins the token, so revoking the
# token ends its sessions on every replica; signing out deletes the row.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "token_id",
        BigId,
        ForeignKey("access_tokens.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("creation_time", BigInteger, nullable=False),
    Column("expiration_time", BigInteger, nullable=False),
    Index(None, "expiration_time"),
)
