"""Search filters compiled to SQLAlchemy Core conditions.

The tree (domain/filter_tree.py) comes from domain/search_filter.py with
canonical field names and checked values; here each comparison becomes a
column expression whose value is a bound parameter, so filter text never
becomes SQL text.

Multi-valued fields (tags, aliases, data sets) compile to EXISTS: the row
matches when at least one of its tags (aliases, data sets) satisfies the
comparison. That is MLflow's meaning for tags (``tags.k != 'v'``: has tag k
with another value) and needs no DISTINCT, which a join would.

LIKE is case-sensitive on both databases: PostgreSQL's LIKE is; SQLite's is
not (for ASCII), so there a LIKE pattern is translated to the equivalent GLOB,
which is case-sensitive and can still use an index for a literal prefix. In
both, a backslash escapes the next character (PostgreSQL's default escape).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    exists,
    literal,
    not_,
    or_,
)

from registry_server.domain import uri as uris
from registry_server.domain.filter_tree import NEGATED, And, Comparison, Node, Op, Or
from registry_server.store.schema import model_version_datasets as datasets_t
from registry_server.store.schema import model_version_tags as vtags_t
from registry_server.store.schema import model_versions as versions_t
from registry_server.store.schema import registered_model_aliases as aliases_t
from registry_server.store.schema import registered_model_tags as mtags_t
from registry_server.store.schema import registered_models as models_t

_MODEL_COLUMNS: Mapping[str, ColumnElement[Any]] = {
    "name": models_t.c.name,
    "description": models_t.c.description,
    "creation_timestamp": models_t.c.creation_time,
    "last_updated_timestamp": models_t.c.last_updated_time,
}

# What the API shows as `source` (store/rows.py, `to_version`), in SQL, so
# the filter matches what the caller sees: registry-held versions store none
# and are addressed as models:/<current name>/<version> (domain/uri.py).
_SOURCE_AS_SHOWN: ColumnElement[Any] = case(
    (
        and_(versions_t.c.source == "", versions_t.c.artifacts_held),
        literal(uris.SCHEME) + models_t.c.name + "/" + cast(versions_t.c.version, String),
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
    the pattern is a constant. A prepared search (see store/search.py, `_cached_statement`)
    gets a generic plan after a few runs, in which the pattern is a parameter:
    without explicit bounds that plan scans every model (measured: 1.4 ms of
    PostgreSQL CPU per page at 10,000 models instead of 0.5 ms).
    """
    if not prefix:
        return []
    bounds: list[ColumnElement[bool]] = [column.op("~>=~", is_comparison=True)(prefix)]
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
        matched: ColumnElement[bool]
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


def _tag_condition(
    owner: ColumnElement[bool],
    key: ColumnElement[Any],
    value: ColumnElement[Any],
    c: Comparison,
    dialect: str,
) -> ColumnElement[bool]:
    """EXISTS a tag ``c.key`` satisfying the comparison; for ``none_match``
    (see filter_tree.ABSENT_MATCHES_TAGS) NOT EXISTS one satisfying its positive."""
    if c.none_match:
        positive = _compare(value, NEGATED[c.op], c.value, dialect)
        return not_(exists().where(owner, key == c.key, positive))
    return exists().where(owner, key == c.key, _compare(value, c.op, c.value, dialect))


def model_condition(node: Node, dialect: str) -> ColumnElement[bool]:
    """The WHERE condition over registered_models for a filter tree."""

    def comparison(c: Comparison) -> ColumnElement[bool]:
        if c.field == "tags":
            owner = mtags_t.c.model_id == models_t.c.id
            return _tag_condition(owner, mtags_t.c.key, mtags_t.c.value, c, dialect)
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
            owner = vtags_t.c.version_id == versions_t.c.id
            return _tag_condition(owner, vtags_t.c.key, vtags_t.c.value, c, dialect)
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


def both(
    a: ColumnElement[bool] | None, b: ColumnElement[bool] | None
) -> ColumnElement[bool] | None:
    """AND of two optional conditions (`restrict` narrows to readable models)."""
    if a is None or b is None:
        return a if b is None else b
    return and_(a, b)
