"""Whether a principal may write anywhere by grant (api/uploads.py asks
before an upload stream's header names the model)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from registry_server.store.schema import model_grants as grants_t

WRITING_ROLES = ("writer", "admin")


def has_write_grant(conn: Connection, principal: str) -> bool:
    """True when some model grants ``principal`` writer or admin (one
    indexed lookup on the grants' principal)."""
    found = conn.execute(
        select(grants_t.c.model_id)
        .where(grants_t.c.principal == principal, grants_t.c.role.in_(WRITING_ROLES))
        .limit(1)
    ).first()
    return found is not None
