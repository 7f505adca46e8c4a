"""Repository functions for `registry-server verify`: the recorded files of
READY registry-held versions, read a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection, and_, or_, select

from registry_server.domain.entities import VersionStatus
from registry_server.store.files import STORED
from registry_server.store.schema import model_version_files as files_t
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_models as models_t


class RecordedFile(NamedTuple):
    """One file of a READY version as its manifest records it."""

    version_id: int
    model_id: int
    model_name: str
    version: int
    path: str
    size: int
    sha256: str


def model_ids(conn: Connection, names: Sequence[str]) -> dict[str, int]:
    """The ids of the models named (names that name no model are left out)."""
    rows = conn.execute(select(models_t.c.name, models_t.c.id).where(models_t.c.name.in_(names)))
    return {name: int(model_id) for name, model_id in rows}


def ready_files_page(
    conn: Connection,
    *,
    after: tuple[int, str] | None,
    limit: int,
    model_ids: Sequence[int] | None = None,
    since_ms: int | None = None,
) -> list[RecordedFile]:
    """Up to ``limit`` stored files of READY registry-held versions, in
    (version id, path) order after the keyset ``after``; only of the models
    ``model_ids`` and of versions created at or after ``since_ms`` when given."""
    stmt = (
        select(
            files_t.c.version_id,
            versions_t.c.model_id,
            models_t.c.name,
            versions_t.c.version,
            files_t.c.path,
            files_t.c.size,
            files_t.c.sha256,
        )
        .select_from(
            files_t.join(versions_t, versions_t.c.id == files_t.c.version_id).join(
                models_t, models_t.c.id == versions_t.c.model_id
            )
        )
        .where(
            versions_t.c.artifacts_held.is_(True),
            versions_t.c.status == VersionStatus.READY.value,
            files_t.c.state == STORED,
        )
        .order_by(files_t.c.version_id, files_t.c.path)
        .limit(limit)
    )
    if after is not None:
        version_id, path = after
        stmt = stmt.where(
            or_(
                files_t.c.version_id > version_id,
                and_(files_t.c.version_id == version_id, files_t.c.path > path),
            )
        )
    if model_ids is not None:
        stmt = stmt.where(versions_t.c.model_id.in_(model_ids))
    if since_ms is not None:
        stmt = stmt.where(versions_t.c.creation_time >= since_ms)
    return [
        RecordedFile(int(r[0]), int(r[1]), r[2], int(r[3]), r[4], int(r[5]), r[6])
        for r in conn.execute(stmt)
    ]


def ready_versions(
    conn: Connection, *, model_ids: Sequence[int] | None = None, since_ms: int | None = None
) -> set[tuple[int, int]]:
    """(model id, version) of every READY registry-held version in scope,
    including those without files."""
    stmt = select(versions_t.c.model_id, versions_t.c.version).where(
        versions_t.c.artifacts_held.is_(True),
        versions_t.c.status == VersionStatus.READY.value,
    )
    if model_ids is not None:
        stmt = stmt.where(versions_t.c.model_id.in_(model_ids))
    if since_ms is not None:
        stmt = stmt.where(versions_t.c.creation_time >= since_ms)
    return {(int(m), int(v)) for m, v in conn.execute(stmt)}


def still_recorded(conn: Connection, version_id: int, path: str, sha256: str) -> bool:
    """Whether the version still records this file with this sha256 and is
    still READY (it may have been deleted while verify ran)."""
    found = conn.execute(
        select(files_t.c.path)
        .select_from(files_t.join(versions_t, versions_t.c.id == files_t.c.version_id))
        .where(
            files_t.c.version_id == version_id,
            files_t.c.path == path,
            files_t.c.sha256 == sha256,
            files_t.c.state == STORED,
            versions_t.c.status == VersionStatus.READY.value,
        )
    ).first()
    return found is not None
