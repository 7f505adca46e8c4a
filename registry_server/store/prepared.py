"""Server-side prepared statements for the hot lookups on PostgreSQL.

psycopg2 sends every query as text, so PostgreSQL parses and plans it on each
call. The version lookup (a join of five tables with three correlated
sub-selects) costs 0.55 ms of PostgreSQL CPU that way and 0.08 ms once
prepared (measured on the bench machine, one connection, 3,000 calls): on a
2-core machine that planning is a quarter of what a get-by-alias costs in
all. So the statements on the hot paths are PREPAREd once per connection and
run with EXECUTE.

The statement is still written with SQLAlchemy (one definition serves SQLite
too); it is compiled once for PostgreSQL, its parameters numbered, and the
connection remembers which names it has prepared (the pool's per-connection
`info`, which a reconnect starts afresh).

A pooler that hands each transaction a different server connection
(PgBouncer in transaction mode) loses session-level prepared statements:
turn them off there with REGISTRY_PREPARED_STATEMENTS=false.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

# Set on a PostgreSQL engine's connections when prepared statements are on.
_ENABLED = "registry_prepared_statements"
_PREPARED = "registry_prepared"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_names = itertools.count(1)


def enable(engine: Engine) -> None:
    """Let `run` prepare statements on this engine's connections."""

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_ENABLED] = True


class Statement:
    """A SQLAlchemy statement, plus its PREPARE form for PostgreSQL."""

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self.name = f"registry_q{next(_names)}"
        compiled = stmt.compile(dialect=postgresql.dialect())
        # Constants SQLAlchemy turned into parameters (e.g. a separator).
        self._constants = {
            key: value for key, value in compiled.params.items() if value is not None
        }
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in order:
                order.append(key)
            return f"${order.index(key) + 1}"

        body = _PLACEHOLDER.sub(number, str(compiled)).replace("%%", "%")
        self.prepare_sql = f"PREPARE {self.name} AS {body}"
        self._order = order
        arguments = ", ".join(f"%({key})s" for key in order)
        self.execute_sql = f"EXECUTE {self.name}({arguments})" if order else f"EXECUTE {self.name}"

    def run(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Execute with `params`: prepared on PostgreSQL, as usual elsewhere."""
        info = conn.connection.info
        if not info.get(_ENABLED):
            return conn.execute(self.stmt, dict(params))
        prepared: set[str] = info.setdefault(_PREPARED, set())
        if self.name not in prepared:
            conn.exec_driver_sql(self.prepare_sql)
            prepared.add(self.name)
        values = {**self._constants, **params}
        return conn.exec_driver_sql(self.execute_sql, {k: values[k] for k in self._order})
