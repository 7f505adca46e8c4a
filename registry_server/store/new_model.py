"""Creating a registered model in one statement, on PostgreSQL.

A model's creation takes no lock that others wait for, so what bounds it is
CPU: in a transaction it cost ten round trips (BEGIN, the model, a statement
per tag, the event, five reads of the model it answers with, COMMIT), each a
trip through psycopg2, SQLAlchemy and PostgreSQL's parser. Here the model,
its tags and its `model_created` event are one statement run on its own
(autocommit), and the answer is built from what was written: a new model has
no versions, aliases or protections to read back. A name taken (also by a
concurrent creation) fails the statement on the unique index: nothing is
written.

SQLite cannot write in a WITH clause: the transaction path in
domain/models.py stays for it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from registry_server.domain.errors import AlreadyExists
from registry_server.domain.events import EventKind, bounded_payload
from registry_server.store.prepared import Statement

_CREATE = Statement(
    text(
        """
WITH model AS (
    INSERT INTO registered_models (
        name, description, creation_time, last_updated_time, last_version, created_by)
    VALUES (:name, :description, :now, :now, 0, :created_by)
    RETURNING id
), tags AS (
    INSERT INTO registered_model_tags (model_id, key, value)
    SELECT model.id, tag.key, tag.value
    FROM model,
        unnest(CAST(:tag_keys AS text[]), CAST(:tag_values AS text[])) AS tag (key, value)
), event AS (
    INSERT INTO model_events (model_id, model_name, kind, actor, event_time, before, after)
    SELECT id, :name, :kind, :created_by, :now, CAST('{}' AS json), CAST(:after AS json)
    FROM model
)
SELECT id FROM model
"""
    )
)


def create(
    conn: Connection,
    *,
    name: str,
    description: str,
    created_by: str,
    now: int,
    tags: dict[str, str],
    event_after: dict[str, Any],
) -> int:
    """The new model's id, committed. `conn` must be in autocommit
    (Database.statement)."""
    try:
        created = _CREATE.run(
            conn,
            {
                "name": name,
                "description": description,
                "created_by": created_by,
                "now": now,
                "tag_keys": list(tags),
                "tag_values": list(tags.values()),
                "kind": str(EventKind.MODEL_CREATED),
                "after": json.dumps(bounded_payload(event_after)),
            },
        ).first()
    except IntegrityError:
        raise AlreadyExists(f"name: registered model {name!r} already exists") from None
    assert created is not None, "the INSERT returns its row or raises"
    return int(created.id)
