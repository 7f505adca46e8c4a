"""Search queries: a filter's syntax tree compiled to SQLAlchemy Core, read in
keyset pages.

The tree comes from domain/search_filter.py with canonical field names and
checked values; here each comparison becomes a column expression whose value
is a bound parameter, so filter text never becomes SQL text.

Multi-valued fields (tags, aliases, data sets) compile to EXISTS: the row
matches when at least one of its tags (aliases, data sets) satisfies the
comparison. That is MLflow's meaning for tags (``tags.k != 'v'``: has tag k
with another value) and needs no DISTINCT, which a join would.

LIKE is case-sensitive on both databases: PostgreSQL's LIKE is; SQLite's is
not (for ASCII), so there a LIKE pattern is translated to the equivalent GLOB,
which is case-sensitive and can still use an index for a literal prefix. In
both, a backslash escapes the next character (PostgreSQL's default escape).

A page is read in one round trip: an inner query picks the ids of the page
(filter, keyset condition, ORDER BY, LIMIT), and the outer query hydrates only
those rows, so the per-row sub-selects for tags and aliases never run over the
whole table. Models take one more query for the latest version per stage of
every model on the page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    FromClause,
    Select,
    String,
    Subquery,
    and_,
    any_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)

from registry_server.domain.entities import ModelVersion, RegisteredModel
from registry_server.domain.search_filter import And, Comparison, Node, Op, Or
from registry_server.store import versions
from registry_server.store.prepared import Statement
from registry_server.store.schema import model_version_datasets as datasets_t
from registry_server.store.schema import model_version_tags as vtags_t
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_aliases as aliases_t
from registry_server.store.schema import registered_model_tags as mtags_t
from registry_server.store.schema import registered_models as models_t
from registry_server.store.sql import json_object_agg, load_json

# (order key, descending), e.g. ("creation_timestamp", True).
SortKey = tuple[str, bool]
# The sort key values of a row followed by its id: where the next page starts.
Cursor = tuple[Any, ...]

_MODEL_KEYS: Mapping[str, ColumnElement[Any]] = {
    "name": models_t.c.name,
    "creation_timestamp": models_t.c.creation_time,
    "last_updated_timestamp": models_t.c.last_updated_time,
}

_VERSION_KEYS: Mapping[str, ColumnElement[Any]] = {
    "name": models_t.c.name,
    "version_number": versions_t.c.version,
    "creation_timestamp": versions_t.c.creation_time,
    "last_updated_timestamp": versions_t.c.last_updated_time,
}

_MODEL_COLUMNS: Mapping[str, ColumnElement[Any]] = {
    "name": models_t.c.name,
    "description": models_t.c.description,
    "creation_timestamp": models_t.c.creation_time,
    "last_updated_timestamp": models_t.c.last_updated_time,
}

# What the API shows as `source`: registry-held versions store none and are
# addressed as models:/<current name>/<version> (see versions._to_entity), so
# the filter matches what the caller sees.
_SOURCE_AS_SHOWN: ColumnElement[Any] = case(
    (
        and_(versions_t.c.source == "", versions_t.c.artifacts_held),
        literal("models:/") + models_t.c.name + "/" + cast(versions_t.c.version, String),
    ),
    else_=versions_t.c.source,
)

_VERSION_COLUMNS: Mapping[str, ColumnElement[Any]] = {
    "name": models_t.c.name,
    "version_number": versions_t.c.version,
    "run_id": versions_t.c.run_id,
    "source_path": _SOURCE_AS_SHOWN,
    "current_stage": versions_t.c.stage,
    "status": versions_t.c.status,
    "description": versions_t.c.description,
    "creation_timestamp": versions_t.c.creation_time,
    "last_updated_timestamp": versions_t.c.last_updated_time,
}

_GLOB_SPECIAL = frozenset("*?[")


def like_to_glob(pattern: str) -> str:
    """The GLOB pattern matching exactly what ``LIKE pattern`` matches,
    case-sensitively: % -> *, _ -> ?, backslash escapes the next character,
    and GLOB's own wildcards are bracketed so they stay literal."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            # The parser refuses a pattern ending in a lone backslash.
            ch = next(chars, "\\")
        elif ch == "%":
            out.append("*")
            continue
        elif ch == "_":
            out.append("?")
            continue
        out.append(f"[{ch}]" if ch in _GLOB_SPECIAL else ch)
    return "".join(out)


def like_prefix(pattern: str) -> str:
    """The literal text every match of ``LIKE pattern`` starts with: the
    characters before the first unescaped wildcard, escapes resolved."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch in "%_":
            break
        if ch == "\\":
            ch = next(chars, "\\")
        out.append(ch)
    return "".join(out)


def _successor(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix``, in
    code point order (which is UTF-8 byte order); None if there is none."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def _prefix_range(column: ColumnElement[Any], prefix: str) -> list[ColumnElement[bool]]:
    """``prefix <= column < successor`` in the byte order of the name's
    pattern index (``~>=~``, ``~<~``).

    PostgreSQL derives these bounds from a LIKE pattern itself, but only when
    the pattern is a constant. A prepared search (see `_cached_statement`)
    gets a generic plan after a few runs, in which the pattern is a parameter:
    without explicit bounds that plan scans every model (measured: 1.4 ms of
    PostgreSQL CPU per page at 10,000 models instead of 0.5 ms).
    """
    if not prefix:
        return []
    bounds = [column.op("~>=~", is_comparison=True)(prefix)]
    upper = _successor(prefix)
    if upper is not None:
        bounds.append(column.op("~<~", is_comparison=True)(upper))
    return bounds


def _compare(column: ColumnElement[Any], op: Op, value: Any, dialect: str) -> ColumnElement[bool]:
    if op is Op.EQ:
        return column == value
    if op is Op.NE:
        return column != value
    if op is Op.LT:
        return column < value
    if op is Op.LE:
        return column <= value
    if op is Op.GT:
        return column > value
    if op is Op.GE:
        return column >= value
    if op is Op.IN:
        return column.in_(list(value))
    if op is Op.NOT_IN:
        return column.not_in(list(value))
    if op in (Op.LIKE, Op.NOT_LIKE):
        if dialect == "sqlite":
            matched = column.op("GLOB", is_comparison=True)(like_to_glob(value))
        else:
            matched = column.like(value)
            if op is Op.LIKE and column is models_t.c.name:
                matched = and_(*_prefix_range(column, like_prefix(value)), matched)
        return not_(matched) if op is Op.NOT_LIKE else matched
    if op in (Op.ILIKE, Op.NOT_ILIKE):
        # PostgreSQL: native ILIKE, backslash is the default escape. SQLite:
        # lower(x) LIKE lower(p), which needs the escape spelled out.
        escape = "\\" if dialect == "sqlite" else None
        matched = column.ilike(value, escape=escape)
        return not_(matched) if op is Op.NOT_ILIKE else matched
    raise AssertionError(f"unhandled operator {op}")


def _compile(
    node: Node, comparison: Callable[[Comparison], ColumnElement[bool]]
) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_compile(n, comparison) for n in node.operands))
    if isinstance(node, Or):
        return or_(*(_compile(n, comparison) for n in node.operands))
    return comparison(node)


def model_condition(node: Node, dialect: str) -> ColumnElement[bool]:
    """The WHERE condition over registered_models for a filter tree."""

    def comparison(c: Comparison) -> ColumnElement[bool]:
        if c.field == "tags":
            return exists().where(
                mtags_t.c.model_id == models_t.c.id,
                mtags_t.c.key == c.key,
                _compare(mtags_t.c.value, c.op, c.value, dialect),
            )
        if c.field == "alias":
            return exists().where(
                aliases_t.c.model_id == models_t.c.id,
                _compare(aliases_t.c.alias, c.op, c.value, dialect),
            )
        return _compare(_MODEL_COLUMNS[c.field], c.op, c.value, dialect)

    return _compile(node, comparison)


def version_condition(node: Node, dialect: str) -> ColumnElement[bool]:
    """The WHERE condition over model_versions JOIN registered_models."""

    def comparison(c: Comparison) -> ColumnElement[bool]:
        if c.field == "tags":
            return exists().where(
                vtags_t.c.version_id == versions_t.c.id,
                vtags_t.c.key == c.key,
                _compare(vtags_t.c.value, c.op, c.value, dialect),
            )
        if c.field == "alias":
            return exists().where(
                aliases_t.c.version_id == versions_t.c.id,
                _compare(aliases_t.c.alias, c.op, c.value, dialect),
            )
        if c.field in ("dataset.digest", "dataset.name"):
            column = datasets_t.c.digest if c.field == "dataset.digest" else datasets_t.c.name
            return exists().where(
                datasets_t.c.version_id == versions_t.c.id,
                _compare(column, c.op, c.value, dialect),
            )
        return _compare(_VERSION_COLUMNS[c.field], c.op, c.value, dialect)

    return _compile(node, comparison)


def _after(
    columns: Sequence[tuple[ColumnElement[Any], bool]], cursor: Cursor
) -> ColumnElement[bool]:
    """Rows strictly after ``cursor`` in the order of ``columns``.

    The row comparison (k1, k2, id) > (v1, v2, i) expanded into its OR form,
    because keys may mix ASC and DESC, which a row-value comparison cannot
    express. The leading ``k1 >= v1`` is implied by the OR form and repeated
    so the database can use it as an index range bound.
    """
    if len(cursor) != len(columns):
        raise ValueError("cursor does not match the sort keys")
    first, first_desc = columns[0]
    bound = first <= cursor[0] if first_desc else first >= cursor[0]
    branches = []
    for i, (column, descending) in enumerate(columns):
        equal_before = [c == v for (c, _), v in zip(columns[:i], cursor[:i], strict=True)]
        step = column < cursor[i] if descending else column > cursor[i]
        branches.append(and_(*equal_before, step))
    return and_(bound, or_(*branches))


def _page_ids(
    source: FromClause,
    row_id: ColumnElement[Any],
    keys: Sequence[tuple[ColumnElement[Any], bool]],
    where: ColumnElement[bool] | None,
    after: Cursor | None,
    limit: int,
) -> Subquery:
    """Ids and sort key values (k0, k1, ...) of the page's rows, in order.

    The id breaks ties in the direction of the last key, so an index on
    (key, id) serves the whole ORDER BY in one scan direction.
    """
    columns = [*keys, (row_id, keys[-1][1])]
    stmt = select(row_id.label("id"), *(c.label(f"k{i}") for i, (c, _) in enumerate(keys)))
    stmt = stmt.select_from(source)
    if where is not None:
        stmt = stmt.where(where)
    if after is not None:
        stmt = stmt.where(_after(columns, after))
    return stmt.order_by(*_ordering(keys, row_id)).limit(limit).subquery("page")


def _ordering(
    keys: Sequence[tuple[ColumnElement[Any], bool]], row_id: ColumnElement[Any]
) -> list[ColumnElement[Any]]:
    """ORDER BY the keys, then the id in the direction of the last key."""
    columns = [*keys, (row_id, keys[-1][1])]
    return [c.desc() if d else c.asc() for c, d in columns]


def _page_order(page: Subquery, order: Sequence[SortKey]) -> list[ColumnElement[Any]]:
    directions = [d for _, d in order] + [order[-1][1]]
    names = [f"k{i}" for i in range(len(order))] + ["id"]
    return [
        page.c[n].desc() if d else page.c[n].asc() for n, d in zip(names, directions, strict=True)
    ]


def _cursor(row: Any, order: Sequence[SortKey]) -> Cursor:
    """The row's sort key values (k0, k1, ..., the last columns of every page
    query) and its id (the first column)."""
    return (*row[len(row) - len(order) :], row[0])


def _both(
    a: ColumnElement[bool] | None, b: ColumnElement[bool] | None
) -> ColumnElement[bool] | None:
    """AND of two optional conditions (`restrict` narrows to readable models)."""
    if a is None or b is None:
        return a if b is None else b
    return and_(a, b)


def _models_statement(
    dialect: str,
    where: Node | None,
    order: tuple[SortKey, ...],
    after: Cursor | None,
    limit: int,
    restrict: ColumnElement[bool] | None,
) -> Select[Any]:
    condition = model_condition(where, dialect) if where is not None else None
    condition = _both(condition, restrict)
    keys = [(_MODEL_KEYS[name], descending) for name, descending in order]
    page = _page_ids(models_t, models_t.c.id, keys, condition, after, limit)
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
        select(
            # The order _model_entity unpacks.
            models_t.c.id,
            models_t.c.name,
            models_t.c.description,
            models_t.c.creation_time,
            models_t.c.last_updated_time,
            models_t.c.last_version,
            models_t.c.created_by,
            tags.label("tags"),
            aliases.label("aliases"),
            *(page.c[f"k{i}"] for i in range(len(order))),
        )
        .select_from(page.join(models_t, models_t.c.id == page.c.id))
        .order_by(*_page_order(page, order))
    )


def _versions_statement(
    dialect: str,
    where: Node | None,
    order: tuple[SortKey, ...],
    after: Cursor | None,
    limit: int,
    restrict: ColumnElement[bool] | None,
) -> Select[Any]:
    condition = version_condition(where, dialect) if where is not None else None
    condition = _both(condition, restrict)
    keys = [(_VERSION_KEYS[name], descending) for name, descending in order]
    source = versions_t.join(models_t, models_t.c.id == versions_t.c.model_id)
    if dialect == "postgresql":
        return _versions_statement_pg(source, keys, condition, where, after, limit)
    page = _page_ids(source, versions_t.c.id, keys, condition, after, limit)
    return (
        versions._version_select()
        .add_columns(*(page.c[f"k{i}"] for i in range(len(order))))
        .join(page, page.c.id == versions_t.c.id)
        .order_by(*_page_order(page, order))
    )


def _pinned_model(where: Node | None) -> str | None:
    """The model a filter names with a top-level ``name = '...'``, if any."""
    operands = where.operands if isinstance(where, And) else (where,)
    for node in operands:
        if isinstance(node, Comparison) and node.field == "name" and node.op is Op.EQ:
            return str(node.value)
    return None


def _versions_statement_pg(
    source: FromClause,
    keys: Sequence[tuple[ColumnElement[Any], bool]],
    condition: ColumnElement[bool] | None,
    where: Node | None,
    after: Cursor | None,
    limit: int,
) -> Select[Any]:
    """The version page on PostgreSQL, shaped for the versions of one model.

    Listing a model's versions (``name = 'm'``, newest first) is the search
    deployment tools repeat. Filtered through the join on the name alone,
    PostgreSQL read and sorted all of the model's versions to keep 100 (0.6 ms
    of 1.3 ms at 1,050 versions); the model's id as a sub-select lets the
    (model_id, version) index deliver them in order. The page's rows are then
    fetched by id (``= ANY(ARRAY(...))``), which plans as primary-key lookups
    whatever the table sizes; joined to the page as a sub-query the outer
    query was planned as a scan of every version on small tables.
    """
    model = _pinned_model(where)
    if model is not None:
        pinned = versions_t.c.model_id == (
            select(models_t.c.id).where(models_t.c.name == model).scalar_subquery()
        )
        condition = _both(condition, pinned)
    page = _page_ids(source, versions_t.c.id, keys, condition, after, limit)
    ids = func.array(select(page.c.id).scalar_subquery())
    return (
        versions._version_select()
        .add_columns(*(c.label(f"k{i}") for i, (c, _) in enumerate(keys)))
        .where(versions_t.c.id == any_(ids))
        .order_by(*_ordering(keys, versions_t.c.id))
    )


_Builder = Callable[
    [str, Node | None, tuple[SortKey, ...], Cursor | None, int, ColumnElement[bool] | None],
    Select[Any],
]


@functools.lru_cache(maxsize=256)
def _cached_statement(
    build: _Builder,
    dialect: str,
    where: Node | None,
    order: tuple[SortKey, ...],
    after: Cursor | None,
    limit: int,
) -> Statement:
    # First pages are what dashboards and deployment jobs repeat: PostgreSQL
    # keeps those prepared (a bounded number per connection). Later pages
    # each have their own cursor values and are run as plain text.
    return Statement(build(dialect, where, order, after, limit, None), bounded=after is None)


def _run(conn: Connection, stmt: Select[Any] | Statement) -> CursorResult[Any]:
    return stmt.run(conn, {}) if isinstance(stmt, Statement) else conn.execute(stmt)


def _statement(
    build: _Builder,
    conn: Connection,
    where: Node | None,
    order: Sequence[SortKey],
    after: Cursor | None,
    limit: int,
    restrict: ColumnElement[bool] | None,
) -> Select[Any] | Statement:
    """The page query, reused for a search seen before.

    Building a search statement and its cache key costs more CPU than
    PostgreSQL spends answering it (py-spy: 15% of a 100-row version page).
    Deployment jobs and dashboards repeat the same searches, so statements
    for the same filter, order, cursor and size are kept (a statement is
    immutable, and its memoised cache key comes with it). Searches narrowed
    to one caller's readable models are built afresh.
    """
    if restrict is not None:
        return build(conn.dialect.name, where, tuple(order), after, limit, restrict)
    cached = _cached_statement(build, conn.dialect.name, where, tuple(order), after, limit)
    return cached if cached.bounded else cached.stmt


def models_page(
    conn: Connection,
    where: Node | None,
    order: Sequence[SortKey],
    after: Cursor | None,
    limit: int,
    restrict: ColumnElement[bool] | None = None,
) -> list[tuple[RegisteredModel, Cursor]]:
    """Up to ``limit`` models matching ``where`` after ``after``, each with its
    tags, aliases and latest version per stage, and its cursor."""
    stmt = _statement(_models_statement, conn, where, order, after, limit, restrict)
    rows = _run(conn, stmt).all()
    latest = versions.latest_per_stage_many(conn, [row.id for row in rows])
    return [(_model_entity(row, latest), _cursor(row, order)) for row in rows]


def _model_entity(row: Any, latest: dict[int, list[ModelVersion]]) -> RegisteredModel:
    """A model from a row of `models_page`'s query, unpacked by position (see
    versions._to_entity for why)."""
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


def versions_page(
    conn: Connection,
    where: Node | None,
    order: Sequence[SortKey],
    after: Cursor | None,
    limit: int,
    restrict: ColumnElement[bool] | None = None,
) -> list[tuple[ModelVersion, Cursor]]:
    """Up to ``limit`` versions (across models) matching ``where`` after
    ``after``, hydrated like every other version read, with their cursors."""
    stmt = _statement(_versions_statement, conn, where, order, after, limit, restrict)
    return [(versions._to_entity(row), _cursor(row, order)) for row in _run(conn, stmt)]
