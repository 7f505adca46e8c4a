"""Rows to domain entities: the SELECTs every read of a version or a search
page of models hydrates through, and the functions that unpack them.

Reads (store/versions.py), searches (store/search.py) and lineage walks
(store/lineage.py) share these; they are public so no module reaches into
another's private names. URIs are the domain's to format (domain/uri.py):
a row brings their parts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from registry_server.domain import uri as uris
from registry_server.domain.entities import (
    Dataset,
    Lineage,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry_server.store.schema import model_version_datasets as datasets_t
from registry_server.store.schema import model_version_tags as vtags_t
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_aliases as aliases_t
from registry_server.store.schema import registered_model_tags as mtags_t
from registry_server.store.schema import registered_models as models_t
from registry_server.store.sql import json_array_agg, json_object_agg, json_row, load_json


@functools.cache
def version_select() -> Select[Any]:
    """Built once: statements are immutable (`.where()` returns a copy), and
    building this one (two table aliases, five sub-selects) costs more CPU
    than PostgreSQL spends answering it."""
    v = versions_t
    # The parent is shown by its current name, so a rename of the parent model
    # does not leave stale lineage; the stored URI is the fallback once the
    # parent version is deleted.
    #
    # Sub-selects, not outer joins: for a page of versions the planner
    # guessed ten rows and hash-joined the parent side, reading every version
    # of every model per page (EXPLAIN: a sequential scan of model_versions,
    # 1,000 rows for a 100-row page, growing with the table). A sub-select is
    # a primary-key probe per row, and nothing for the usual row without a
    # parent.
    parent_v = versions_t.alias("parent_v")
    parent_m = models_t.alias("parent_m")
    parent_version = (
        select(parent_v.c.version)
        .where(parent_v.c.id == v.c.parent_version_id)
        .correlate_except(parent_v)
        .scalar_subquery()
    )
    parent_name = (
        select(parent_m.c.name)
        .select_from(parent_v.join(parent_m, parent_m.c.id == parent_v.c.model_id))
        .where(parent_v.c.id == v.c.parent_version_id)
        .correlate_except(parent_v, parent_m)
        .scalar_subquery()
    )
    aliases = (
        select(func.aggregate_strings(aliases_t.c.alias, ","))
        .where(aliases_t.c.version_id == v.c.id)
        .correlate_except(aliases_t)
        .scalar_subquery()
    )
    tags = (
        select(json_object_agg(vtags_t.c.key, vtags_t.c.value))
        .where(vtags_t.c.version_id == v.c.id)
        .correlate_except(vtags_t)
        .scalar_subquery()
    )
    datasets = (
        select(
            json_array_agg(
                json_row(
                    datasets_t.c.position,
                    datasets_t.c.name,
                    datasets_t.c.digest,
                    datasets_t.c.source_uri,
                )
            )
        )
        .where(datasets_t.c.version_id == v.c.id)
        .correlate_except(datasets_t)
        .scalar_subquery()
    )
    return select(
        v.c.id,
        v.c.model_id,
        models_t.c.name,
        v.c.version,
        v.c.creation_time,
        v.c.last_updated_time,
        v.c.description,
        v.c.source,
        v.c.stage,
        v.c.status,
        v.c.status_message,
        v.c.created_by,
        v.c.run_id,
        v.c.run_link,
        v.c.experiment_id,
        v.c.code_version,
        v.c.parent_model_uri,
        v.c.artifacts_held,
        parent_name.label("parent_name"),
        parent_version.label("parent_version"),
        aliases.label("aliases"),
        tags.label("tags"),
        datasets.label("datasets"),
    ).select_from(v.join(models_t, models_t.c.id == v.c.model_id))


_STAGES = {s.value: s for s in Stage}
_STATUSES = {s.value: s for s in VersionStatus}
_NO_LINEAGE_DATASETS: tuple[Dataset, ...] = ()


def to_version(row: Any) -> ModelVersion:
    """A version from a row of `version_select` (extra columns may follow).

    Unpacked by position: searches turn up to a thousand rows per call into
    entities, and named access on SQLAlchemy rows cost a third of a version
    search's CPU (py-spy).
    """
    (
        _id,
        model_id,
        name,
        version,
        creation_time,
        last_updated_time,
        description,
        source,
        stage,
        status,
        status_message,
        created_by,
        run_id,
        run_link,
        experiment_id,
        code_version,
        parent_model_uri,
        artifacts_held,
        parent_name,
        parent_version,
        aliases,
        tags,
        datasets,
    ) = row[:23]
    return ModelVersion(
        model_id=model_id,
        name=name,
        version=version,
        creation_timestamp=creation_time,
        last_updated_timestamp=last_updated_time,
        description=description,
        # Registry-held files store no source: they are addressed by the
        # version itself, under the model's current name. (Inline, not a
        # call per row: a search page turns up to a thousand rows into
        # versions.)
        source=source or (uris.exact(name, version) if artifacts_held else ""),
        stage=_STAGES[stage],
        status=_STATUSES[status],
        status_message=status_message,
        created_by=created_by,
        lineage=Lineage(
            run_id=run_id,
            run_link=run_link,
            experiment_id=experiment_id,
            code_version=code_version,
            datasets=tuple(
                Dataset(name=d[1], digest=d[2], source_uri=d[3])
                for d in sorted(load_json(datasets, []), key=lambda d: d[0])
            )
            if datasets is not None
            else _NO_LINEAGE_DATASETS,
            # The parent by its model's current name, so a rename leaves no
            # stale lineage; the URI stored at creation once it is deleted.
            parent_model_uri=(
                uris.exact(parent_name, parent_version)
                if parent_version is not None
                else parent_model_uri
            ),
        ),
        tags=dict(sorted(load_json(tags, {}).items())) if tags is not None else {},
        aliases=tuple(sorted(aliases.split(","))) if aliases else (),
        registry_held=bool(artifacts_held),
    )


@functools.cache
def model_columns() -> tuple[ColumnElement[Any], ...]:
    """The columns `to_model` unpacks, in its order: the model's own, then its
    tags and aliases folded in by correlated sub-selects."""
    tags = (
        select(json_object_agg(mtags_t.c.key, mtags_t.c.value))
        .where(mtags_t.c.model_id == models_t.c.id)
        .correlate_except(mtags_t)
        .scalar_subquery()
    )
    aliases = (
        select(json_object_agg(aliases_t.c.alias, versions_t.c.version))
        .select_from(aliases_t.join(versions_t, versions_t.c.id == aliases_t.c.version_id))
        .where(aliases_t.c.model_id == models_t.c.id)
        .correlate_except(aliases_t, versions_t)
        .scalar_subquery()
    )
    return (
        models_t.c.id,
        models_t.c.name,
        models_t.c.description,
        models_t.c.creation_time,
        models_t.c.last_updated_time,
        models_t.c.last_version,
        models_t.c.created_by,
        tags.label("tags"),
        aliases.label("aliases"),
    )


def to_model(row: Any, latest: Mapping[int, list[ModelVersion]]) -> RegisteredModel:
    """A model from a row starting with `model_columns`, unpacked by position
    (see `to_version` for why), with its latest version per stage."""
    (
        model_id,
        name,
        description,
        creation_time,
        last_updated_time,
        last_version,
        created_by,
        tags,
        aliases,
    ) = row[:9]
    return RegisteredModel(
        id=model_id,
        name=name,
        description=description,
        creation_timestamp=creation_time,
        last_updated_timestamp=last_updated_time,
        last_version=last_version,
        created_by=created_by,
        tags=dict(sorted(load_json(tags, {}).items())) if tags is not None else {},
        aliases={k: int(v) for k, v in sorted(load_json(aliases, {}).items())}
        if aliases is not None
        else {},
        latest_versions=tuple(latest.get(model_id, ())),
    )
