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

import contextlib
import functools
import itertools
import re
import time
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import ClauseElement, Connection, CursorResult, Executable, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from registry_server import metrics

# Set on a PostgreSQL engine's connections when prepared statements are on.
_ENABLED = "registry_prepared_statements"
_PREPARED = "registry_prepared"
_BOUNDED = "registry_prepared_bounded"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_names = itertools.count(1)
# Statements built per request (searches) are prepared on a connection up to
# this many at a time; the least recently used is DEALLOCATEd to make room.
MAX_BOUNDED_PER_CONNECTION = 32
#: Set by registry_server/tracing.py when tracing is on: wraps each EXECUTE in
#: a span (it runs on the DBAPI cursor, where SQLAlchemy's events, and so its
#: instrumentation, do not see it). None: nothing extra on the hot path.
traced_execute: Callable[[Callable[[], Rows], str, str], Rows] | None = None


def enable(engine: Engine) -> None:
    """Let `run` prepare statements on this engine's connections."""

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_ENABLED] = True


class Statement:
    """A SQLAlchemy statement, plus its PREPARE form for PostgreSQL."""

    def __init__(
        self, stmt: Executable, *, bounded: bool = False, metric: str | None = None
    ) -> None:
        self.stmt = stmt
        self.bounded = bounded
        self.name = f"registry_q{next(_names)}"
        # The `statement` label of registry_db_statement_seconds (a fixed
        # name given where a hot lookup is defined); None: not timed.
        self.metric = metric
        self._observe: Callable[[float], None] | None = None
        # The row type of its results, made on the first EXECUTE: the columns
        # of a prepared statement are fixed, and building the type from the
        # cursor's description decoded every column name on every call.
        self.make_row: Callable[[Iterable[Any]], Any] | None = None

    @functools.cached_property
    def _compiled(self) -> tuple[str, str, list[str], dict[str, Any]]:
        """PREPARE and EXECUTE texts, parameter order, constants: compiled on
        first use on PostgreSQL (a statement meant for SQLite may not compile
        for it)."""
        assert isinstance(self.stmt, ClauseElement), "a statement, not a DDL or text object"
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

    def run(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any] | Rows:
        """Execute with `params`: prepared on PostgreSQL, as usual elsewhere;
        timed into registry_db_statement_seconds when it has a metric name
        and metrics are on."""
        if self.metric is None or not metrics.state.enabled:
            return self._run(conn, params)
        observe = self._observe
        if observe is None:
            observe = self._observe = metrics.statement_observer(self.metric)
        begin = time.perf_counter()
        try:
            return self._run(conn, params)
        finally:
            observe(time.perf_counter() - begin)

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any] | Rows:
        info = conn.connection.info
        if not info.get(_ENABLED):
            return conn.execute(self.stmt, dict(params))
        if self.bounded:
            self._prepare_bounded(conn, info)
        else:
            self._prepare(conn, info)
        _, execute, order, constants = self._compiled
        values = {**constants, **params}
        arguments = {k: values[k] for k in order}
        if traced_execute is not None:
            return traced_execute(
                lambda: _execute(conn, execute, arguments, self), self.name, execute
            )
        return _execute(conn, execute, arguments, self)

    def _prepare(self, conn: Connection, info: dict[str, Any]) -> None:
        prepared: set[str] = info.setdefault(_PREPARED, set())
        if self.name not in prepared:
            conn.exec_driver_sql(self.prepare_sql)
            prepared.add(self.name)

    @functools.cached_property
    def plain_sql(self) -> str:
        """The statement as text with psycopg2's placeholders (prepared
        statements off)."""
        assert isinstance(self.stmt, ClauseElement), "a statement, not a DDL or text object"
        return str(
            self.stmt.compile(
                dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True}
            )
        )

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


def run_in_one_round_trip(
    conn: Connection,
    statements: tuple[Statement, ...],
    params: Mapping[str, Any],
    preamble: str | None = None,
) -> CursorResult[Any] | Rows:
    """Run `statements` (PostgreSQL, a connection in autocommit) as one
    message and so one implicit transaction: one round trip, locks held from
    the first statement to the commit, and (READ COMMITTED) each statement
    reading a snapshot taken when it starts, so one that follows a row lock
    sees what the lock's previous holder committed. The rows are the last
    statement's; `params` serves them all. `preamble`: statements without
    parameters to run first (Database.local_timeouts)."""
    info = conn.connection.info
    if info.get(_ENABLED):
        texts = []
        arguments: dict[str, Any] = {}
        for statement in statements:
            statement._prepare(conn, info)
            _, execute, order, constants = statement._compiled
            values = {**constants, **params}
            arguments.update((key, values[key]) for key in order)
            texts.append(execute)
        # Numbered placeholders are per statement; the EXECUTE texts name
        # the parameters, so one mapping serves both.
    else:
        # As text, through SQLAlchemy like every unprepared statement (its
        # events, and so tracing, see it).
        arguments = {}
        for statement in statements:
            arguments.update(statement._compiled[3])
        arguments.update(params)
        texts = [statement.plain_sql for statement in statements]
        if preamble:
            texts.insert(0, preamble.replace("%", "%%"))
        return conn.exec_driver_sql("; ".join(texts), arguments)
    if preamble:
        texts.insert(0, preamble.replace("%", "%%"))
    sql = "; ".join(texts)
    last = statements[-1]
    if traced_execute is not None:
        return traced_execute(lambda: _execute(conn, sql, arguments, last), last.name, sql)
    return _execute(conn, sql, arguments, last)


class Rows:
    """The rows of one EXECUTE, with the part of CursorResult's interface the
    store uses (first, scalar, all, iteration; rows have named fields)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def all(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


_ROW_MAKERS: dict[tuple[str, ...], Callable[[Iterable[Any]], Any]] = {}


def _row_maker(description: Any) -> Callable[[Iterable[Any]], Any]:
    """A named tuple type's `_make` for rows with these columns."""
    names = tuple(column[0] for column in description)
    make = _ROW_MAKERS.get(names)
    if make is None:
        # Column names known only at run time: a type mypy cannot see into.
        row_type: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        make = _ROW_MAKERS[names] = row_type._make
    return make


def _execute(conn: Connection, sql: str, params: Mapping[str, Any], statement: Statement) -> Rows:
    """EXECUTE on the DBAPI cursor directly.

    SQLAlchemy's execution context, result and row machinery cost about 0.1 ms
    per call (a third of a get-by-alias's domain and database time, measured
    in process); an EXECUTE of a prepared statement needs none of it. Errors
    are raised as SQLAlchemy would raise them, and a lost connection is
    invalidated, so the callers' UNAVAILABLE mapping and the pool's recovery
    work as for any other statement.
    """
    pooled = conn.connection
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = pooled.cursor()
    try:
        cursor.execute(sql, params)
        if cursor.description is None:
            return Rows([])
        make = statement.make_row
        if make is None:
            make = statement.make_row = _row_maker(cursor.description)
        return Rows([make(row) for row in cursor.fetchall()])
    except dbapi_error as exc:
        lost = conn.dialect.is_disconnect(exc, pooled.dbapi_connection, cursor)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, params, exc, dbapi_error, connection_invalidated=lost, dialect=conn.dialect
        ) from exc
    finally:
        with contextlib.suppress(dbapi_error):  # the connection may be gone
            cursor.close()
