"""Repository functions for web console sessions (schema: console_sessions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select

from registry_server.store.schema import access_tokens as tokens_t
from registry_server.store.schema import console_sessions as sessions_t


def insert(conn: Connection, *, id_hash: str, token_id: int, now: int, expires: int) -> None:
    conn.execute(
        sessions_t.insert().values(
            id_hash=id_hash, token_id=token_id, creation_time=now, expiration_time=expires
        )
    )


def with_token(conn: Connection, id_hash: str, now: int) -> Any:
    """The session's token row (principal, role, revocation, expiry) and the
    session's own expiry, in one round trip; None when there is no such
    session or it has expired."""
    stmt = (
        select(
            tokens_t.c.id,
            tokens_t.c.principal,
            tokens_t.c.role,
            tokens_t.c.expiration_time,
            tokens_t.c.revocation_time,
            sessions_t.c.expiration_time.label("session_expiration_time"),
        )
        .join(tokens_t, tokens_t.c.id == sessions_t.c.token_id)
        .where(sessions_t.c.id_hash == id_hash, sessions_t.c.expiration_time > now)
    )
    return conn.execute(stmt).first()


def remove(conn: Connection, id_hash: str) -> bool:
    return bool(conn.execute(delete(sessions_t).where(sessions_t.c.id_hash == id_hash)).rowcount)


def remove_expired(conn: Connection, now: int) -> int:
    """Sessions past their expiry (each sign-in sweeps them: no job needed)."""
    result = conn.execute(delete(sessions_t).where(sessions_t.c.expiration_time <= now))
    return int(result.rowcount or 0)
