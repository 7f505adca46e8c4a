"""Repository functions of the import path (domain/imports.py): rows written
with the times and numbers another registry gave them.

They only insert. Nothing here updates an existing version, so the import
path cannot rewrite one; the model's counter only ever grows.
"""

from __future__ import annotations

from sqlalchemy import Connection, case, select, update
from sqlalchemy.exc import IntegrityError

from registry_server.domain.entities import Lineage, Stage, VersionStatus
from registry_server.domain.errors import AlreadyExists
from registry_server.domain.events import EventKind
from registry_server.store.schema import model_events as events_t
from registry_server.store.schema import model_version_tags as vtags_t
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_tags as tags_t
from registry_server.store.schema import registered_models as models_t


def insert_model(
    conn: Connection,
    *,
    name: str,
    description: str,
    tags: dict[str, str],
    created_by: str,
    created: int,
    updated: int,
) -> int:
    try:
        model_id = conn.execute(
            models_t.insert()
            .values(
                name=name,
                description=description,
                creation_time=created,
                last_updated_time=updated,
                last_version=0,
                created_by=created_by,
            )
            .returning(models_t.c.id)
        ).scalar_one()
    except IntegrityError:
        # A concurrent import (or create) of the same name won the race.
        raise AlreadyExists(f"name: registered model {name!r} already exists") from None
    if tags:
        conn.execute(
            tags_t.insert(),
            [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()],
        )
    return int(model_id)


def insert_version(
    conn: Connection,
    *,
    model_id: int,
    version: int,
    created: int,
    updated: int,
    source: str,
    description: str,
    stage: Stage,
    status: VersionStatus,
    status_message: str,
    created_by: str,
    lineage: Lineage,
    tags: dict[str, str],
    artifacts_held: bool,
) -> int:
    """The version's row and its tags (the caller holds the model's lock and
    has checked that the number is free)."""
    version_id = conn.execute(
        versions_t.insert().returning(versions_t.c.id),
        {
            "model_id": model_id,
            "version": version,
            "creation_time": created,
            "last_updated_time": updated,
            "description": description,
            "source": source,
            "stage": stage.value,
            "status": status.value,
            "status_message": status_message,
            "created_by": created_by,
            "run_id": lineage.run_id,
            "run_link": lineage.run_link,
            "experiment_id": lineage.experiment_id,
            "code_version": lineage.code_version,
            "parent_model_uri": "",
            "parent_version_id": None,
            "idempotency_key": None,
            "artifacts_held": artifacts_held,
        },
    ).scalar_one()
    if tags:
        conn.execute(
            vtags_t.insert(),
            [{"version_id": version_id, "key": k, "value": v} for k, v in tags.items()],
        )
    return int(version_id)


def raise_counter(conn: Connection, model_id: int, version: int) -> None:
    """last_version = max(last_version, version): versions created later
    continue after the highest imported number."""
    conn.execute(
        update(models_t)
        .where(models_t.c.id == model_id)
        .values(
            last_version=case(
                (models_t.c.last_version < version, version), else_=models_t.c.last_version
            )
        )
    )


def number_was_used(conn: Connection, model_id: int, version: int) -> bool:
    """Whether this model's history shows a version with that number (one
    since deleted: numbers are never reused). Only asked for free numbers
    at or below the counter, which an import in number order never meets.
    """
    found = conn.execute(
        select(events_t.c.id)
        .where(
            events_t.c.model_id == model_id,
            events_t.c.version == version,
            events_t.c.kind.in_(
                [
                    EventKind.VERSION_CREATED.value,
                    EventKind.VERSION_DELETED.value,
                    EventKind.IMPORTED.value,
                ]
            ),
        )
        .limit(1)
    ).first()
    return found is not None
