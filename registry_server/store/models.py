"""Repository functions for registered models and their tags."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, Row, bindparam, case, delete, select, update
from sqlalchemy.exc import IntegrityError

from registry_server.domain.errors import AlreadyExists, NotFound
from registry_server.store.prepared import Statement
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_tags as tags_t
from registry_server.store.schema import registered_models as models_t
from registry_server.store.sql import upsert


def insert(conn: Connection, *, name: str, description: str, created_by: str, now: int) -> int:
    # An IntegrityError aborts the transaction; the caller's scope rolls back.
    try:
        result = conn.execute(
            models_t.insert()
            .values(
                name=name,
                description=description,
                creation_time=now,
                last_updated_time=now,
                last_version=0,
                created_by=created_by,
            )
            .returning(models_t.c.id)
        )
    except IntegrityError:
        raise AlreadyExists(f"name: registered model {name!r} already exists") from None
    return int(result.scalar_one())


# Reading a model (GetRegisteredModel, and every model mutation's answer)
# runs these; built once and prepared on PostgreSQL.
_GET = Statement(
    select(models_t).where(models_t.c.name == bindparam("name")), metric="model_by_name"
)
_TAGS = Statement(
    select(tags_t.c.key, tags_t.c.value)
    .where(tags_t.c.model_id == bindparam("model_id"))
    .order_by(tags_t.c.key)
)


def get(conn: Connection, name: str) -> Row | None:
    """The model's row (fields by column name), or None."""
    return _GET.run(conn, {"name": name}).first()


def require(conn: Connection, name: str) -> Row:
    row = get(conn, name)
    if row is None:
        raise NotFound(f"registered model {name!r} not found")
    return row


def lock(conn: Connection, name: str) -> Row:
    """Take the model's row lock: every mutation of a model and its versions
    serialises here, which is what makes stage archiving and alias moves
    race-free under READ COMMITTED."""
    row = conn.execute(select(models_t).where(models_t.c.name == name).with_for_update()).first()
    if row is None:
        raise NotFound(f"registered model {name!r} not found")
    return row


LOCK_ID = Statement(
    select(models_t.c.id).where(models_t.c.name == bindparam("name")).with_for_update()
)


def lock_id(conn: Connection, name: str) -> int | None:
    """`lock` for the hot version mutations: the same row lock, prepared, and
    only the id (None when there is no such model).

    Read what the mutation needs in a later statement: under READ COMMITTED a
    statement that waited for a row lock sees other tables as of its start, so
    a version read in the locking statement could predate the change it waited
    for."""
    return LOCK_ID.run(conn, {"name": name}).scalar()


class Allocation(NamedTuple):
    model_id: int
    version: int
    # The change's time: never earlier than the model's previous change, so
    # a model's events are in time order in the order their changes committed.
    now: int
    # The version an earlier call with the same idempotency key created.
    replay_id: int | None


_ALLOCATE = Statement(
    update(models_t)
    .where(models_t.c.name == bindparam("model_name"))
    .values(
        last_version=models_t.c.last_version + 1,
        last_updated_time=case(
            (models_t.c.last_updated_time > bindparam("now"), models_t.c.last_updated_time),
            else_=bindparam("now"),
        ),
    )
    .returning(
        models_t.c.id,
        models_t.c.last_version,
        models_t.c.last_updated_time,
        select(versions_t.c.id)
        .where(
            versions_t.c.model_id == models_t.c.id,
            versions_t.c.idempotency_key == bindparam("idempotency_key"),
        )
        .correlate(models_t)
        .scalar_subquery()
        .label("replay_id"),
    )
)


def lock_and_allocate(
    conn: Connection, name: str, now: int, idempotency_key: str | None
) -> Allocation | None:
    """Take the model's lock, bump its version counter and look the
    idempotency key up, in one statement (None: no such model).

    Creating versions on one model serialises on this row, so every round
    trip saved here is throughput gained. A replay found here must roll the
    transaction back: the counter was bumped.
    """
    row = _ALLOCATE.run(
        conn, {"model_name": name, "now": now, "idempotency_key": idempotency_key}
    ).first()
    if row is None:
        return None
    return Allocation(
        int(row.id),
        int(row.last_version),
        int(row.last_updated_time),
        None if row.replay_id is None else int(row.replay_id),
    )


_TOUCH = Statement(
    update(models_t)
    .where(models_t.c.id == bindparam("touched_id"))
    .values(last_updated_time=bindparam("touched_at"))
)


def touch(conn: Connection, model_id: int, now: int) -> None:
    _TOUCH.run(conn, {"touched_id": model_id, "touched_at": now})


def set_description(conn: Connection, model_id: int, description: str, now: int) -> None:
    conn.execute(
        update(models_t)
        .where(models_t.c.id == model_id)
        .values(description=description, last_updated_time=now)
    )


def rename(conn: Connection, model_id: int, new_name: str, now: int) -> None:
    try:
        conn.execute(
            update(models_t)
            .where(models_t.c.id == model_id)
            .values(name=new_name, last_updated_time=now)
        )
    except IntegrityError:
        raise AlreadyExists(f"new_name: registered model {new_name!r} already exists") from None


def remove(conn: Connection, model_id: int) -> None:
    conn.execute(delete(models_t).where(models_t.c.id == model_id))


def tags(conn: Connection, model_id: int) -> dict[str, str]:
    return {key: value for key, value in _TAGS.run(conn, {"model_id": model_id})}


def get_tag(conn: Connection, model_id: int, key: str) -> str | None:
    return conn.execute(
        select(tags_t.c.value).where(tags_t.c.model_id == model_id, tags_t.c.key == key)
    ).scalar_one_or_none()


def set_tag(conn: Connection, model_id: int, key: str, value: str) -> None:
    upsert(conn, tags_t, {"model_id": model_id, "key": key, "value": value}, ["model_id", "key"])


def delete_tag(conn: Connection, model_id: int, key: str) -> None:
    conn.execute(delete(tags_t).where(tags_t.c.model_id == model_id, tags_t.c.key == key))
