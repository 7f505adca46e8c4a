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

import functools
import itertools
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

# Set on a PostgreSQL engine's connections when prepared statements are on.
_ENABLED = "registry_prepared_statements"
_PREPARED = "registry_prepared"
_BOUNDED = "registry_prepared_bounded"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_names = itertools.count(1)
# Statements built per request (searches) are prepared on a connection up to
# this many at a time; the least recently used is DEALLOCATEd to make room.
MAX_BOUNDED_PER_CONNECTION = 32


def enable(engine: Engine) -> None:
    """Let `run` prepare statements on this engine's connections."""

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_ENABLED] = True


class Statement:
    """A SQLAlchemy statement, plus its PREPARE form for PostgreSQL."""

    def __init__(self, stmt: Executable, *, bounded: bool = False) -> None:
        self.stmt = stmt
        self.bounded = bounded
        self.name = f"registry_q{next(_names)}"

    @functools.cached_property
    def _compiled(self) -> tuple[str, str, list[str], dict[str, Any]]:
        """PREPARE and EXECUTE texts, parameter order, constants: compiled on
        first use on PostgreSQL (a statement meant for SQLite may not compile
        for it)."""
        compiled = self.stmt.compile(
            dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True}
        )
        # Constants SQLAlchemy turned into parameters (e.g. a separator).
        constants = {key: value for key, value in compiled.params.items() if value is not None}
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in order:
                order.append(key)
            return f"${order.index(key) + 1}"

        body = _PLACEHOLDER.sub(number, str(compiled)).replace("%%", "%")
        arguments = ", ".join(f"%({key})s" for key in order)
        execute = f"EXECUTE {self.name}({arguments})" if order else f"EXECUTE {self.name}"
        return f"PREPARE {self.name} AS {body}", execute, order, constants

    @property
    def prepare_sql(self) -> str:
        return self._compiled[0]

    @property
    def execute_sql(self) -> str:
        return self._compiled[1]

    def run(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Execute with `params`: prepared on PostgreSQL, as usual elsewhere."""
        info = conn.connection.info
        if not info.get(_ENABLED):
            return conn.execute(self.stmt, dict(params))
        if self.bounded:
            self._prepare_bounded(conn, info)
        else:
            prepared: set[str] = info.setdefault(_PREPARED, set())
            if self.name not in prepared:
                conn.exec_driver_sql(self.prepare_sql)
                prepared.add(self.name)
        _, execute, order, constants = self._compiled
        values = {**constants, **params}
        return conn.exec_driver_sql(execute, {k: values[k] for k in order})

    def _prepare_bounded(self, conn: Connection, info: dict[str, Any]) -> None:
        recent: OrderedDict[str, None] = info.setdefault(_BOUNDED, OrderedDict())
        if self.name in recent:
            recent.move_to_end(self.name)
            return
        while len(recent) >= MAX_BOUNDED_PER_CONNECTION:
            oldest, _ = recent.popitem(last=False)
            conn.exec_driver_sql(f"DEALLOCATE {oldest}")
        conn.exec_driver_sql(self.prepare_sql)
        recent[self.name] = None
