"""Repository functions for the files of registry-held versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

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


def clashing_path(conn: Connection, version_id: int, path: str) -> str | None:
    """A path of the version that ``path`` cannot live beside: one of its
    folders recorded as a file ("a" for "a/b"), or a file under it ("a/b" for
    "a"). substr, not LIKE: SQLite's LIKE ignores case, and no escaping."""
    parts = path.split("/")
    folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
    under = path + "/"
    clash = func.substr(files_t.c.path, 1, len(under)) == under
    if folders:
        clash = or_(files_t.c.path.in_(folders), clash)
    return conn.execute(
        select(files_t.c.path)
        .where(files_t.c.version_id == version_id, clash)
        .order_by(files_t.c.path)
        .limit(1)
    ).scalar()


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
