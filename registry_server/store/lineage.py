"""Walking the lineage parent links (`model_versions.parent_version_id`).

Two recursive CTEs, one per direction, each hydrated through
`versions.version_select()` in the same statement: two queries whatever the
depth, on PostgreSQL and SQLite alike. Links are by row id, so they survive
renames and cross models; deleting a version sets its children's link to
NULL, which ends the walk there.

Parent links cannot form a cycle (a parent exists before its child, and links
never change), and the depth bound would stop one anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, literal_column, select

from registry_server.domain.entities import ModelVersion
from registry_server.store.rows import to_version, version_select
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_models as models_t


@dataclass(frozen=True, slots=True)
class Linked:
    """A version found by a walk, `depth` links away from the start."""

    version_id: int
    depth: int
    version: ModelVersion
    # Whether this version has a parent link (ancestors walk only).
    has_parent: bool = False


def with_ancestors(conn: Connection, name: str, version: int, max_depth: int) -> list[Linked]:
    """The version itself (depth 0), then its parent, the parent's parent, ...
    up to `max_depth` links; empty when the version does not exist.

    `has_parent` of the last one tells whether the depth bound cut the chain.
    """
    v = versions_t
    anchor = (
        select(
            v.c.id,
            v.c.parent_version_id.label("parent_id"),
            literal_column("0").label("depth"),
        )
        .select_from(v.join(models_t, models_t.c.id == v.c.model_id))
        .where(models_t.c.name == name, v.c.version == version)
        .cte("ancestry", recursive=True)
    )
    step = (
        select(v.c.id, v.c.parent_version_id, anchor.c.depth + 1)
        .select_from(v.join(anchor, v.c.id == anchor.c.parent_id))
        .where(anchor.c.depth < max_depth)
    )
    ancestry = anchor.union_all(step)
    stmt = (
        version_select()
        .add_columns(ancestry.c.depth.label("walk_depth"), ancestry.c.parent_id)
        .join(ancestry, ancestry.c.id == versions_t.c.id)
        .order_by(ancestry.c.depth)
    )
    return [
        Linked(int(r.id), int(r.walk_depth), to_version(r), r.parent_id is not None)
        for r in conn.execute(stmt)
    ]


def descendants(conn: Connection, version_id: int, max_depth: int, limit: int) -> list[Linked]:
    """Versions derived from `version_id`, directly or not, nearest generation
    first, then by model name and version.

    The walk goes one link further than `max_depth` and the answer holds up to
    `limit + 1` rows, so the caller can tell whether either bound cut
    something off (any row deeper than `max_depth`, or more than `limit`).
    """
    v = versions_t
    anchor = (
        select(v.c.id, literal_column("1").label("depth"))
        .where(v.c.parent_version_id == version_id)
        .cte("progeny", recursive=True)
    )
    step = (
        select(v.c.id, anchor.c.depth + 1)
        .select_from(v.join(anchor, v.c.parent_version_id == anchor.c.id))
        .where(anchor.c.depth <= max_depth)
    )
    progeny = anchor.union_all(step)
    # Code point order on both databases (PostgreSQL's default collation
    # would sort by locale), so the 1,000-row cut is the same everywhere.
    by_name = models_t.c.name.collate("C") if conn.dialect.name == "postgresql" else models_t.c.name
    stmt = (
        version_select()
        .add_columns(progeny.c.depth.label("walk_depth"))
        .join(progeny, progeny.c.id == versions_t.c.id)
        .order_by(progeny.c.depth, by_name, versions_t.c.version)
        .limit(limit + 1)
    )
    return [Linked(int(r.id), int(r.walk_depth), to_version(r)) for r in conn.execute(stmt)]
