"""Repository functions for the files of registry-held versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from registry_server.domain.entities import ArtifactFile
from registry_server.store.schema import model_version_files as files_t
from registry_server.store.schema import model_versions as versions_t

UPLOADING = "uploading"
STORED = "stored"


def get(conn: Connection, version_id: int, path: str) -> Any:
    return conn.execute(
        select(files_t).where(files_t.c.version_id == version_id, files_t.c.path == path)
    ).first()


def reserve(conn: Connection, version_id: int, path: str, now: int) -> None:
    conn.execute(
        files_t.insert().values(version_id=version_id, path=path, state=UPLOADING, started_time=now)
    )


def restart(conn: Connection, version_id: int, path: str, now: int) -> None:
    conn.execute(
        update(files_t)
        .where(files_t.c.version_id == version_id, files_t.c.path == path)
        .values(state=UPLOADING, size=None, sha256=None, started_time=now)
    )


def complete(conn: Connection, version_id: int, path: str, size: int, sha256: str) -> None:
    conn.execute(
        update(files_t)
        .where(files_t.c.version_id == version_id, files_t.c.path == path)
        .values(state=STORED, size=size, sha256=sha256)
    )


def release(conn: Connection, version_id: int, path: str) -> None:
    conn.execute(delete(files_t).where(files_t.c.version_id == version_id, files_t.c.path == path))


def remove_all(conn: Connection, version_id: int) -> None:
    conn.execute(delete(files_t).where(files_t.c.version_id == version_id))


def rows(conn: Connection, version_id: int) -> list[Any]:
    return list(
        conn.execute(
            select(files_t).where(files_t.c.version_id == version_id).order_by(files_t.c.path)
        )
    )


def manifest(conn: Connection, version_id: int) -> list[ArtifactFile]:
    return [
        ArtifactFile(path=r.path, size=int(r.size), sha256=r.sha256)
        for r in rows(conn, version_id)
        if r.state == STORED
    ]


def owned_keys(conn: Connection) -> set[str]:
    """Every object key some version owns (finished or in-flight uploads)."""
    result = conn.execute(
        select(versions_t.c.model_id, versions_t.c.version, files_t.c.path).select_from(
            files_t.join(versions_t, versions_t.c.id == files_t.c.version_id)
        )
    )
    return {f"{model_id}/{version}/{path}" for model_id, version, path in result}
