"""Repository functions for access control: tokens, grants, protections."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)

from registry_server.domain.events import EventKind
from registry_server.store.prepared import Statement
from registry_server.store.schema import access_tokens as tokens_t
from registry_server.store.schema import model_events as events_t
from registry_server.store.schema import model_grants as grants_t
from registry_server.store.schema import model_protections as protections_t
from registry_server.store.schema import registered_models as models_t
from registry_server.store.sql import upsert

# ---------------------------------------------------------------- tokens


def insert_token(
    conn: Connection,
    *,
    principal: str,
    role: str,
    secret_hash: str,
    prefix: str,
    description: str,
    created_by: str,
    now: int,
    expires: int | None,
) -> int:
    return int(
        conn.execute(
            tokens_t.insert()
            .values(
                principal=principal,
                role=role,
                secret_hash=secret_hash,
                prefix=prefix,
                description=description,
                created_by=created_by,
                creation_time=now,
                expiration_time=expires,
                revocation_time=None,
            )
            .returning(tokens_t.c.id)
        ).scalar_one()
    )


def token_by_hash(conn: Connection, secret_hash: str) -> Any:
    return conn.execute(select(tokens_t).where(tokens_t.c.secret_hash == secret_hash)).first()


def token_by_id(conn: Connection, token_id: int) -> Any:
    return conn.execute(select(tokens_t).where(tokens_t.c.id == token_id)).first()


def list_tokens(conn: Connection, active_at: int | None) -> list[Any]:
    """Newest first; with `active_at`, only tokens neither revoked nor expired then."""
    stmt = select(tokens_t).order_by(tokens_t.c.id.desc())
    if active_at is not None:
        stmt = stmt.where(
            tokens_t.c.revocation_time.is_(None),
            (tokens_t.c.expiration_time.is_(None)) | (tokens_t.c.expiration_time > active_at),
        )
    return list(conn.execute(stmt))


def revoke_token(conn: Connection, token_id: int, now: int) -> None:
    conn.execute(
        update(tokens_t)
        .where(tokens_t.c.id == token_id, tokens_t.c.revocation_time.is_(None))
        .values(revocation_time=now)
    )


# ---------------------------------------------------------------- grants


def grant_role(conn: Connection, model_id: int, principal: str) -> str | None:
    """The principal's grant on the model, if any (a deleted model has none:
    its grants went with it, and its id is never given to another model)."""
    stmt = select(grants_t.c.role).where(
        grants_t.c.model_id == model_id, grants_t.c.principal == principal
    )
    return conn.execute(stmt).scalar_one_or_none()


def set_grant(conn: Connection, model_id: int, principal: str, role: str) -> None:
    upsert(
        conn,
        grants_t,
        {"model_id": model_id, "principal": principal, "role": role},
        ["model_id", "principal"],
    )


def delete_grant(conn: Connection, model_id: int, principal: str) -> bool:
    result = conn.execute(
        delete(grants_t).where(grants_t.c.model_id == model_id, grants_t.c.principal == principal)
    )
    return bool(result.rowcount)


def grants_of_model(conn: Connection, model_id: int) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(grants_t.c.principal, grants_t.c.role)
        .where(grants_t.c.model_id == model_id)
        .order_by(grants_t.c.principal)
    )
    return [(r.principal, r.role) for r in rows]


TOKEN_KINDS = (EventKind.TOKEN_CREATED.value, EventKind.TOKEN_REVOKED.value)
WEBHOOK_KINDS = (
    EventKind.WEBHOOK_CREATED.value,
    EventKind.WEBHOOK_UPDATED.value,
    EventKind.WEBHOOK_DELETED.value,
)
#: Kinds only global admins see (as only they may list tokens and webhooks).
ADMIN_ONLY_KINDS = TOKEN_KINDS + WEBHOOK_KINDS
GRANT_KINDS = (EventKind.GRANT_SET.value, EventKind.GRANT_DELETED.value)


def events_shown_to(principal: str, admin_roles: tuple[str, ...]) -> ColumnElement[bool]:
    """SQL condition on `model_events` for a caller who is not a global admin:
    no token or webhook events, and grant events only of models where `principal` has
    a grant with one of `admin_roles` (who may list a model's grants)."""
    kind = events_t.c.kind
    lists_grants = exists().where(
        grants_t.c.model_id == events_t.c.model_id,
        grants_t.c.principal == principal,
        grants_t.c.role.in_(admin_roles),
    )
    return and_(kind.not_in(ADMIN_ONLY_KINDS), or_(kind.not_in(GRANT_KINDS), lists_grants))


def readable_by(
    principal: str, roles: tuple[str, ...], model_id: Any = None
) -> ColumnElement[bool]:
    """SQL condition: the model (column `model_id`, default the models table's
    id) has a grant to `principal` with one of `roles`. Used to narrow
    searches and listings for principals without a global read role."""
    column = models_t.c.id if model_id is None else model_id
    # Also for events: a model id is never reused (SQLite: migration 0006),
    # and a deleted model's grants went with it.
    return exists().where(
        grants_t.c.model_id == column,
        grants_t.c.principal == principal,
        grants_t.c.role.in_(roles),
    )


# ---------------------------------------------------------------- protections


# Read with every model (GetRegisteredModel): built once, prepared on PostgreSQL.
_PROTECTIONS = Statement(
    select(protections_t.c.kind, protections_t.c.name)
    .where(protections_t.c.model_id == bindparam("model_id"))
    .order_by(protections_t.c.kind, protections_t.c.name),
    metric="model_protections",
)


def protections(conn: Connection, model_id: int) -> tuple[list[str], list[str]]:
    """(protected aliases, protected stages) of a model, sorted."""
    rows = _PROTECTIONS.run(conn, {"model_id": model_id})
    aliases: list[str] = []
    stages: list[str] = []
    for kind, name in rows:
        (aliases if kind == "alias" else stages).append(name)
    return aliases, stages


def is_protected(conn: Connection, model_id: int, kind: str, names: list[str]) -> list[str]:
    """Which of `names` are protected on the model (one indexed lookup)."""
    if not names:
        return []
    rows = conn.execute(
        select(protections_t.c.name).where(
            protections_t.c.model_id == model_id,
            protections_t.c.kind == kind,
            protections_t.c.name.in_(names),
        )
    )
    return sorted(r.name for r in rows)


def replace_protections(
    conn: Connection, model_id: int, aliases: list[str], stages: list[str]
) -> None:
    conn.execute(delete(protections_t).where(protections_t.c.model_id == model_id))
    rows = [{"model_id": model_id, "kind": "alias", "name": a} for a in aliases] + [
        {"model_id": model_id, "kind": "stage", "name": s} for s in stages
    ]
    if rows:
        conn.execute(protections_t.insert(), rows)
