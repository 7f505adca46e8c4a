"""Repository functions for model versions, their tags and datasets.

Every read of a version goes through `rows.version_select`: one SELECT that joins
the model (for its name) and folds aliases, tags and datasets in through
correlated sub-selects, so a hot read is a single indexed round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    any_,
    bindparam,
    delete,
    func,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from registry_server.domain.entities import (
    STAGE_ORDER,
    Lineage,
    ModelVersion,
    Stage,
    VersionStatus,
)
from registry_server.store import models, rows
from registry_server.store.prepared import Statement
from registry_server.store.schema import model_version_datasets as datasets_t
from registry_server.store.schema import model_version_tags as vtags_t
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_aliases as aliases_t
from registry_server.store.schema import registered_models as models_t
from registry_server.store.sql import upsert


class DuplicateIdempotencyKey(Exception):
    """Another transaction committed a version with the same key first."""


def _one(conn: Connection, stmt: Statement, params: Mapping[str, Any]) -> ModelVersion | None:
    row = stmt.run(conn, params).first()
    return rows.to_version(row) if row is not None else None


# The hot lookups (get, by alias, resolve) are built once with bound
# parameters: reusing the statement object lets SQLAlchemy reuse its memoised
# cache key and compiled SQL instead of rebuilding both on every call, and
# PostgreSQL plans each once per connection (store/prepared.py).
BY_NAME_VERSION_SELECT = rows.version_select().where(
    models_t.c.name == bindparam("name"), versions_t.c.version == bindparam("version")
)
_BY_NAME_VERSION = Statement(BY_NAME_VERSION_SELECT, metric="version_by_number")
_BY_ID = Statement(
    rows.version_select().where(versions_t.c.id == bindparam("version_id")), metric="version_by_id"
)
# The alias is looked up by its key (the model's name, then (model_id,
# alias)), and its version by primary key. Joined to the versions on
# version_id, PostgreSQL walked every version of the model and probed the
# aliases by version (EXPLAIN: 21 buffers for a model of 20 versions, 2 now),
# so get by alias and resolve @alias grew with the number of versions.
_alias_model = models_t.alias("alias_model")
_ALIAS_TARGET = (
    select(aliases_t.c.version_id)
    .select_from(aliases_t.join(_alias_model, _alias_model.c.id == aliases_t.c.model_id))
    .where(_alias_model.c.name == bindparam("name"), aliases_t.c.alias == bindparam("alias"))
    .correlate(None)
    .scalar_subquery()
)
_BY_ALIAS = Statement(
    rows.version_select().where(versions_t.c.id == _ALIAS_TARGET), metric="version_by_alias"
)


# Version numbers are stored as 32-bit integers; the API takes int64. A
# prepared statement's parameter has the column's type, so a larger number
# would fail to bind ("integer out of range") instead of finding nothing.
# Such versions cannot exist: look for version 0, which never does either.
MAX_STORED_VERSION = 2**31 - 1


def _storable(version: int) -> int:
    return version if version <= MAX_STORED_VERSION else 0


def get(conn: Connection, name: str, version: int) -> ModelVersion | None:
    return _one(conn, _BY_NAME_VERSION, {"name": name, "version": _storable(version)})


class LockedVersion(NamedTuple):
    model_id: int
    version_id: int
    version: ModelVersion


def lock_and_get(conn: Connection, name: str, version: int) -> LockedVersion | None:
    """Lock the model, then read the version in full (None: model or version missing)."""
    model_id = models.lock_id(conn, name)
    if model_id is None:
        return None
    row = _BY_NAME_VERSION.run(conn, {"name": name, "version": _storable(version)}).first()
    if row is None:
        return None
    return LockedVersion(int(row.model_id), int(row.id), rows.to_version(row))


class ModelRef(NamedTuple):
    id: int


class VersionRow(NamedTuple):
    id: int
    stage: str
    status: str
    description: str
    artifacts_held: bool


_LOCATE = Statement(
    select(
        versions_t.c.id,
        versions_t.c.stage,
        versions_t.c.status,
        versions_t.c.description,
        versions_t.c.artifacts_held,
    ).where(
        versions_t.c.model_id == bindparam("model_id"),
        versions_t.c.version == bindparam("version"),
    )
)


def lock_and_locate(
    conn: Connection, name: str, version: int
) -> tuple[ModelRef, VersionRow | None] | None:
    """Lock the model, then read the version's bare row: None when the model
    does not exist, (model, None) when the version does not."""
    model_id = models.lock_id(conn, name)
    if model_id is None:
        return None
    return ModelRef(int(model_id)), locate(conn, model_id, version)


def get_by_id(conn: Connection, version_id: int) -> ModelVersion | None:
    return _one(conn, _BY_ID, {"version_id": version_id})


def get_by_alias(conn: Connection, name: str, alias: str) -> ModelVersion | None:
    return _one(conn, _BY_ALIAS, {"name": name, "alias": alias})


@functools.cache
def _latest_select(by_stage: bool, by_status: bool) -> Statement:
    stmt = rows.version_select().where(models_t.c.name == bindparam("name"))
    if by_stage:
        stmt = stmt.where(versions_t.c.stage == bindparam("stage"))
    if by_status:
        stmt = stmt.where(versions_t.c.status == bindparam("status"))
    return Statement(stmt.order_by(versions_t.c.version.desc()).limit(1))


def latest(
    conn: Connection,
    name: str,
    stage: Stage | None = None,
    status: VersionStatus | None = None,
) -> ModelVersion | None:
    """Highest version of the model, optionally within a stage and a status."""
    params: dict[str, Any] = {"name": name}
    if stage is not None:
        params["stage"] = stage.value
    if status is not None:
        params["status"] = status.value
    return _one(conn, _latest_select(stage is not None, status is not None), params)


def latest_per_stage(
    conn: Connection, model_id: int, stages: Iterable[Stage] = STAGE_ORDER
) -> list[ModelVersion]:
    return latest_per_stage_many(conn, [model_id], stages).get(model_id, [])


@functools.cache
def _latest_per_stage_select(dialect: str) -> Statement:
    """Built once: a search page hydrates up to a thousand models with it, and
    rebuilding it (and its cache key) per call was a third of a model search's
    CPU. On PostgreSQL the ids and stages are arrays, so the statement is the
    same whatever their number and can be prepared.

    On PostgreSQL each (model, stage) pair takes the newest version from the
    (model_id, stage, version) index, one backward probe (LATERAL ... LIMIT 1),
    and the rows are then fetched by id. The grouped form (max(version) per
    model and stage, joined back to the versions) read every version of every
    model on the page, and at 100,000 models PostgreSQL hash-joined it to a
    sequential scan of registered_models: 14-50 ms of a model search page,
    against 3-4 ms this way (bench/scale.py, 1,000,000 versions).
    """
    if dialect == "postgresql":
        model = (
            func.unnest(bindparam("model_ids", type_=postgresql.ARRAY(BigInteger)))
            .table_valued("model_id")
            .render_derived(name="m")
        )
        stage = (
            func.unnest(bindparam("stages", type_=postgresql.ARRAY(String)))
            .table_valued("stage")
            .render_derived(name="s")
        )
        newest_t = versions_t.alias("newest_v")
        newest = (
            select(newest_t.c.id)
            .where(newest_t.c.model_id == model.c.model_id, newest_t.c.stage == stage.c.stage)
            .order_by(newest_t.c.version.desc())
            .limit(1)
            .lateral("newest")
        )
        ids = select(newest.c.id).select_from(model).join(stage, true()).join(newest, true())
        return Statement(
            rows.version_select().where(versions_t.c.id == any_(func.array(ids.scalar_subquery())))
        )
    by_model = versions_t.c.model_id.in_(bindparam("model_ids", expanding=True))
    by_stage = versions_t.c.stage.in_(bindparam("stages", expanding=True))
    top = (
        select(
            versions_t.c.model_id,
            versions_t.c.stage,
            func.max(versions_t.c.version).label("version"),
        )
        .where(by_model, by_stage)
        .group_by(versions_t.c.model_id, versions_t.c.stage)
        .subquery()
    )
    stmt = rows.version_select().join(
        top,
        (top.c.model_id == versions_t.c.model_id)
        & (top.c.stage == versions_t.c.stage)
        & (top.c.version == versions_t.c.version),
    )
    return Statement(stmt)


def latest_per_stage_many(
    conn: Connection, model_ids: Sequence[int], stages: Iterable[Stage] = STAGE_ORDER
) -> dict[int, list[ModelVersion]]:
    """The highest version in each stage, in stage order, for many models in
    one query (a search page hydrates all its models at once)."""
    if not model_ids:
        return {}
    params = {"model_ids": list(model_ids), "stages": [s.value for s in stages]}
    found: dict[int, dict[Stage, ModelVersion]] = {}
    statement = _latest_per_stage_select(conn.dialect.name)
    for version in map(rows.to_version, statement.run(conn, params)):
        found.setdefault(version.model_id, {})[version.stage] = version
    return {
        model_id: [by_stage[s] for s in STAGE_ORDER if s in by_stage]
        for model_id, by_stage in found.items()
    }


def locate(conn: Connection, model_id: int, version: int) -> VersionRow | None:
    """The bare row (id, stage, status, ...) of a version, for mutations."""
    row = _LOCATE.run(conn, {"model_id": model_id, "version": _storable(version)}).first()
    if row is None:
        return None
    return VersionRow(int(row.id), row.stage, row.status, row.description, bool(row.artifacts_held))


def set_status(
    conn: Connection, version_id: int, status: VersionStatus, message: str, now: int
) -> None:
    conn.execute(
        update(versions_t)
        .where(versions_t.c.id == version_id)
        .values(status=status.value, status_message=message, last_updated_time=now)
    )


def set_source(conn: Connection, version_id: int, source: str) -> None:
    conn.execute(update(versions_t).where(versions_t.c.id == version_id).values(source=source))


def id_of(conn: Connection, version: ModelVersion) -> int:
    """Row id of a version entity (entities carry numbers, not row ids)."""
    found = locate(conn, version.model_id, version.version)
    assert found is not None, "id_of takes a version read in the same transaction"
    return found.id


def id_by_idempotency_key(conn: Connection, model_id: int, key: str) -> int | None:
    return conn.execute(
        select(versions_t.c.id).where(
            versions_t.c.model_id == model_id, versions_t.c.idempotency_key == key
        )
    ).scalar_one_or_none()


# Built once (compiled SQL reused); creating a version holds the model's lock.
_INSERT_VERSION = versions_t.insert().returning(versions_t.c.id)


def insert(
    conn: Connection,
    *,
    model_id: int,
    version: int,
    now: int,
    source: str,
    description: str,
    status: VersionStatus,
    created_by: str,
    lineage: Lineage,
    parent_version_id: int | None,
    idempotency_key: str | None,
    tags: dict[str, str],
    artifacts_held: bool = False,
) -> int:
    try:
        version_id = conn.execute(
            _INSERT_VERSION,
            {
                "model_id": model_id,
                "version": version,
                "creation_time": now,
                "last_updated_time": now,
                "description": description,
                "source": source,
                "stage": Stage.NONE.value,
                "status": status.value,
                "status_message": "",
                "created_by": created_by,
                "run_id": lineage.run_id,
                "run_link": lineage.run_link,
                "experiment_id": lineage.experiment_id,
                "code_version": lineage.code_version,
                "parent_model_uri": lineage.parent_model_uri,
                "parent_version_id": parent_version_id,
                "idempotency_key": idempotency_key,
                "artifacts_held": artifacts_held,
            },
        ).scalar_one()
    except IntegrityError as exc:
        if idempotency_key and "idempotency_key" in str(exc.orig):
            raise DuplicateIdempotencyKey from exc
        raise
    if tags:
        conn.execute(
            vtags_t.insert(),
            [{"version_id": version_id, "key": k, "value": v} for k, v in tags.items()],
        )
    if lineage.datasets:
        conn.execute(
            datasets_t.insert(),
            [
                {
                    "version_id": version_id,
                    "position": i,
                    "name": d.name,
                    "digest": d.digest,
                    "source_uri": d.source_uri,
                }
                for i, d in enumerate(lineage.datasets)
            ],
        )
    return int(version_id)


def set_description(conn: Connection, version_id: int, description: str, now: int) -> None:
    conn.execute(
        update(versions_t)
        .where(versions_t.c.id == version_id)
        .values(description=description, last_updated_time=now)
    )


# A transition runs these under the model's lock: built once, prepared on
# PostgreSQL (as alias moves, see store/aliases.py).
_SET_STAGE = Statement(
    update(versions_t)
    .where(versions_t.c.id == bindparam("staged_id"))
    .values(stage=bindparam("new_stage"), last_updated_time=bindparam("staged_at"))
)
_ARCHIVE_HOLDERS = Statement(
    update(versions_t)
    .where(
        versions_t.c.model_id == bindparam("holder_model_id"),
        versions_t.c.stage == bindparam("held_stage"),
        versions_t.c.id != bindparam("keep_id"),
    )
    .values(stage=Stage.ARCHIVED.value, last_updated_time=bindparam("archived_at"))
    .returning(versions_t.c.version)
)


def set_stage(conn: Connection, version_id: int, stage: Stage, now: int) -> None:
    _SET_STAGE.run(conn, {"staged_id": version_id, "new_stage": stage.value, "staged_at": now})


def archive_stage_holders(
    conn: Connection, model_id: int, stage: Stage, keep_id: int, now: int
) -> list[int]:
    """Move every other version in `stage` to Archived; return their numbers."""
    archived = _ARCHIVE_HOLDERS.run(
        conn,
        {
            "holder_model_id": model_id,
            "held_stage": stage.value,
            "keep_id": keep_id,
            "archived_at": now,
        },
    )
    return sorted(int(row[0]) for row in archived)


def remove(conn: Connection, version_id: int) -> None:
    conn.execute(delete(versions_t).where(versions_t.c.id == version_id))


def touch(conn: Connection, version_id: int, now: int) -> None:
    conn.execute(
        update(versions_t).where(versions_t.c.id == version_id).values(last_updated_time=now)
    )


def tags_of(conn: Connection, version_id: int) -> dict[str, str]:
    """Every tag of one version (a bounded set: validation.MAX_TAGS)."""
    found = conn.execute(
        select(vtags_t.c.key, vtags_t.c.value).where(vtags_t.c.version_id == version_id)
    )
    return {key: value for key, value in found}


def get_tag(conn: Connection, version_id: int, key: str) -> str | None:
    return conn.execute(
        select(vtags_t.c.value).where(vtags_t.c.version_id == version_id, vtags_t.c.key == key)
    ).scalar_one_or_none()


def set_tag(conn: Connection, version_id: int, key: str, value: str) -> None:
    upsert(
        conn,
        vtags_t,
        {"version_id": version_id, "key": key, "value": value},
        ["version_id", "key"],
    )


def delete_tag(conn: Connection, version_id: int, key: str) -> None:
    conn.execute(delete(vtags_t).where(vtags_t.c.version_id == version_id, vtags_t.c.key == key))
