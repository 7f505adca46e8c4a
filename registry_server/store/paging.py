"""Keyset paging: where a page starts, in what order, and its cursor.

A page is "rows after the cursor" in the requested order, the cursor being
the sort key values of the last row served and its id (a unique
tiebreaker). Each page query selects the page's ids and key values as an
inner query (`page_ids`), so what is hydrated around it never runs over the
whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Subquery, and_, or_, select

# (order key, descending), e.g. ("creation_timestamp", True).
SortKey = tuple[str, bool]
# The sort key values of a row followed by its id: where the next page starts.
Cursor = tuple[Any, ...]
# A column to order by and whether descending.
Key = tuple[ColumnElement[Any], bool]


def rows_after(columns: Sequence[Key], cursor: Cursor) -> ColumnElement[bool]:
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


def page_ids(
    source: FromClause,
    row_id: ColumnElement[Any],
    keys: Sequence[Key],
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
        stmt = stmt.where(rows_after(columns, after))
    return stmt.order_by(*ordering(keys, row_id)).limit(limit).subquery("page")


def ordering(keys: Sequence[Key], row_id: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """ORDER BY the keys, then the id in the direction of the last key."""
    columns = [*keys, (row_id, keys[-1][1])]
    return [c.desc() if d else c.asc() for c, d in columns]


def page_order(page: Subquery, order: Sequence[SortKey]) -> list[ColumnElement[Any]]:
    """ORDER BY for a query around `page_ids`: its key columns, then the id."""
    directions = [d for _, d in order] + [order[-1][1]]
    names = [f"k{i}" for i in range(len(order))] + ["id"]
    return [
        page.c[n].desc() if d else page.c[n].asc() for n, d in zip(names, directions, strict=True)
    ]


def cursor_of(row: Any, order: Sequence[SortKey]) -> Cursor:
    """The row's sort key values (k0, k1, ..., the last columns of every page
    query) and its id (the first column)."""
    return (*row[len(row) - len(order) :], row[0])
