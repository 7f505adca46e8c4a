"""Moving an alias in one round trip, on PostgreSQL.

All changes to one model wait for its row lock, so the number of alias moves
one model takes per second is one over the time that lock is held. In a
transaction it was held across seven round trips (the lock with the
version's read, the protection check, the current target, the upsert, the
model's timestamp, the event, COMMIT), each of which, under load, also
waited for the server thread to get Python's GIL back: at 16 concurrent
movers of one alias the lock, not the CPU, was the bound, with a p99 over
150 ms.

Here three statements go as one message (prepared.run_in_one_round_trip):
PostgreSQL runs them as one implicit transaction and commits without waiting
for the client in between.
1. The model's row lock.
2. The move. Under READ COMMITTED it reads a snapshot taken once it starts,
   so after the lock's previous holder committed. It decides (the version
   must be READY, the alias's current target the one the caller expected:
   compare-and-swap; a protected alias needs a global admin) and writes the
   upsert, the model's timestamp and the `alias_set` event, all or nothing.
   Its outcome goes into a transaction-local setting (`set_config(...,
   true)`), since only the last statement's rows come back.
3. The version, read in full as the answer, with that outcome: it sees the
   move (same transaction, later statement), and no second connection or
   round trip is needed for it.

A refused move writes nothing and reports "refused"; the caller falls back
to the transaction path in domain/aliases.py, which decides again under the
lock and raises the precise error (or moves, if the state changed in
between). Only a successful move needs to be fast.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, literal_column, text

from registry_server.domain.entities import ModelVersion, VersionStatus
from registry_server.domain.events import EventKind
from registry_server.store import models, rows, versions
from registry_server.store.prepared import Statement, run_in_one_round_trip

# `:expected` is -1 when the caller set no expectation, 0 for "the alias must
# not exist", else the version it must point at. The event's payloads are the
# domain's (domain/aliases.py), built as jsonb so that their text is what
# Python's json.dumps writes.
_MOVE = Statement(
    text(
        """
WITH model AS (
    SELECT id, last_updated_time FROM registered_models WHERE name = :name
), target AS (
    SELECT model_versions.id, model_versions.status
    FROM model_versions JOIN model ON model_versions.model_id = model.id
    WHERE model_versions.version = :version
), decision AS (
    SELECT model.id AS model_id, target.id AS version_id, target.status,
        GREATEST(model.last_updated_time, :now) AS now,
        (SELECT current_version.version
         FROM registered_model_aliases
         JOIN model_versions AS current_version
             ON current_version.id = registered_model_aliases.version_id
         WHERE registered_model_aliases.model_id = model.id
             AND registered_model_aliases.alias = :alias) AS previous,
        EXISTS (
            SELECT FROM model_protections
            WHERE model_protections.model_id = model.id AND model_protections.kind = 'alias'
                AND model_protections.name = :alias) AS protected
    FROM model JOIN target ON true
), allowed AS (
    SELECT decision.*,
        status = :ready
        AND (:expected < 0 OR COALESCE(previous, 0) = :expected)
        AND (:admin OR NOT protected) AS ok
    FROM decision
), moving AS (
    SELECT * FROM allowed WHERE ok AND previous IS DISTINCT FROM :version
), moved AS (
    INSERT INTO registered_model_aliases (model_id, alias, version_id)
    SELECT model_id, :alias, version_id FROM moving
    ON CONFLICT (model_id, alias) DO UPDATE SET version_id = EXCLUDED.version_id
), touched AS (
    UPDATE registered_models SET last_updated_time = moving.now
    FROM moving WHERE registered_models.id = moving.model_id
), event AS (
    INSERT INTO model_events (
        model_id, model_name, version, kind, actor, event_time, before, after, alias)
    SELECT model_id, :name, :version, :kind, :actor, now,
        CAST(CASE WHEN previous IS NULL THEN CAST('{}' AS jsonb)
             ELSE jsonb_build_object('alias', CAST(:alias AS text), 'version', previous)
             END AS json),
        CAST(jsonb_build_object('alias', CAST(:alias AS text), 'version', :version) AS json),
        :alias
    FROM moving
)
SELECT set_config(
    'registry.alias_move',
    CASE WHEN ok THEN 'moved:' || COALESCE(CAST(previous AS text), '') ELSE 'refused' END,
    true)
FROM allowed
"""
    )
)


# The answer: the version as the move left it, and the move's outcome.
_READ = Statement(
    versions.BY_NAME_VERSION_SELECT.add_columns(
        literal_column("current_setting('registry.alias_move', true)").label("alias_move")
    )
)


class Moved(NamedTuple):
    """A committed move: the version the alias points at (read after the
    move, its aliases included) and the one it pointed at before (None: it
    did not exist; the same version: nothing changed)."""

    version: ModelVersion
    previous: int | None


def move(
    conn: Connection,
    *,
    name: str,
    alias: str,
    version: int,
    expected_version: int | None,
    now: int,
    actor: str,
    admin: bool,
    timeouts: str | None = None,
) -> Moved | None:
    """Point `alias` of model `name` at `version`. None: nothing written,
    because the move was refused or there is no such model or version (or
    a number no version can have). `conn` must be in autocommit
    (Database.statement); `timeouts` bound it (Database.local_timeouts)."""
    if max(version, expected_version or 0) > versions.MAX_STORED_VERSION:
        return None
    row = run_in_one_round_trip(
        conn,
        (models.LOCK_ID, _MOVE, _READ),
        {
            "name": name,
            "alias": alias,
            "version": version,
            "expected": -1 if expected_version is None else expected_version,
            "now": now,
            "actor": actor,
            "admin": admin,
            "ready": VersionStatus.READY.value,
            "kind": str(EventKind.ALIAS_SET),
        },
        timeouts,
    ).first()
    if row is None or not (row.alias_move or "").startswith("moved:"):
        return None
    previous = row.alias_move.removeprefix("moved:")
    return Moved(rows.to_version(row), int(previous) if previous else None)
