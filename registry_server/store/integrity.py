"""Repository functions for `registry-server verify` (the recorded files of
READY registry-held versions, read a page at a time) and `registry-server gc`
(pending versions that show no sign of life)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, func, or_, select

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


class IdleVersion(NamedTuple):
    """A PENDING_REGISTRATION version and when it last showed a sign of life."""

    version_id: int
    model_id: int
    model_name: str
    version: int
    created_by: str
    #: The later of its creation and the start of its newest file upload.
    last_activity: int
    #: Its file rows, uploaded or still uploading.
    files: int


def _newest_upload() -> Any:
    return func.coalesce(func.max(files_t.c.started_time), 0)


def idle_pending_versions(conn: Connection, *, idle_since_ms: int) -> list[IdleVersion]:
    """Every PENDING_REGISTRATION version created at or before ``idle_since_ms``
    with no file upload started after it, by model name and version.

    The newest upload counts, not only the creation: a version that is still
    receiving files is alive however old it is. One statement (a scan of the
    versions and an outer join to their files): gc runs rarely, and it lists
    the whole store anyway."""
    newest = _newest_upload()
    rows = conn.execute(
        select(
            versions_t.c.id,
            versions_t.c.model_id,
            models_t.c.name,
            versions_t.c.version,
            versions_t.c.created_by,
            versions_t.c.creation_time,
            newest,
            func.count(files_t.c.path),
        )
        .select_from(
            versions_t.join(models_t, models_t.c.id == versions_t.c.model_id).outerjoin(
                files_t, files_t.c.version_id == versions_t.c.id
            )
        )
        .where(
            versions_t.c.status == VersionStatus.PENDING_REGISTRATION.value,
            versions_t.c.creation_time <= idle_since_ms,
        )
        .group_by(
            versions_t.c.id,
            versions_t.c.model_id,
            models_t.c.name,
            versions_t.c.version,
            versions_t.c.created_by,
            versions_t.c.creation_time,
        )
        .having(newest <= idle_since_ms)
        .order_by(models_t.c.name, versions_t.c.version)
    )
    return [
        IdleVersion(
            int(r[0]), int(r[1]), r[2], int(r[3]), r[4], max(int(r[5]), int(r[6])), int(r[7])
        )
        for r in rows
    ]


def last_activity(conn: Connection, version_id: int) -> int | None:
    """The later of a version's creation and its newest file upload's start
    (None: no such version), read again under the model's lock before gc
    gives up on it."""
    row = conn.execute(
        select(versions_t.c.creation_time, _newest_upload())
        .select_from(versions_t.outerjoin(files_t, files_t.c.version_id == versions_t.c.id))
        .where(versions_t.c.id == version_id)
        .group_by(versions_t.c.id, versions_t.c.creation_time)
    ).first()
    return None if row is None else max(int(row[0]), int(row[1]))
