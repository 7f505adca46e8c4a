"""Small dialect bridges so one query text works on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import JSON


class json_object_agg(GenericFunction[Any]):
    """Aggregate key/value rows into one JSON object (empty groups: NULL or {})."""

    type = JSON()
    inherit_cache = True


@compiles(json_object_agg, "postgresql")
def _json_object_agg_pg(element, compiler, **kw):
    return f"json_object_agg({compiler.process(element.clauses, **kw)})"


@compiles(json_object_agg, "sqlite")
def _json_object_agg_sqlite(element, compiler, **kw):
    return f"json_group_object({compiler.process(element.clauses, **kw)})"


class json_array_agg(GenericFunction[Any]):
    """Aggregate rows of json_row(...) into one JSON array."""

    type = JSON()
    inherit_cache = True


@compiles(json_array_agg, "postgresql")
def _json_array_agg_pg(element, compiler, **kw):
    return f"json_agg({compiler.process(element.clauses, **kw)})"


@compiles(json_array_agg, "sqlite")
def _json_array_agg_sqlite(element, compiler, **kw):
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


class json_row(GenericFunction[Any]):
    """A JSON array built from columns, one per aggregated row."""

    type = JSON()
    inherit_cache = True


@compiles(json_row, "postgresql")
def _json_row_pg(element, compiler, **kw):
    return f"json_build_array({compiler.process(element.clauses, **kw)})"


@compiles(json_row, "sqlite")
def _json_row_sqlite(element, compiler, **kw):
    return f"json(json_array({compiler.process(element.clauses, **kw)}))"


def load_json(value: Any, empty: Any) -> Any:
    """psycopg2 hands JSON back parsed, sqlite3 as text; aggregates may be NULL."""
    if value is None:
        return empty
    if isinstance(value, str):
        return json.loads(value)
    return value


def upsert_statement(
    dialect: str, table: Table, values: dict[str, Any], keys: list[str]
) -> Executable:
    """INSERT ... ON CONFLICT (keys) DO UPDATE in `dialect`; `values` may be
    bind parameters, for a statement built once (store/aliases.py)."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = dialect_insert(table).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=update)


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, in the connection's dialect."""
    conn.execute(upsert_statement(conn.dialect.name, table, values, keys))
