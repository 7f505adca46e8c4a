"""What SQL a registry server sends for a call, and how PostgreSQL plans it.

`capture_queries` runs `registry-server serve` with a hook (a sitecustomize module on
PYTHONPATH) that writes down every statement SQLAlchemy sends, its parameters bound by
psycopg2 (so exactly as PostgreSQL receives it), with prepared statements off: the server
prepares the same SQL text when they are on. `explain` runs each captured read again under
EXPLAIN (ANALYZE, BUFFERS) and keeps what it scanned, through which indexes, and how many
buffers it touched, so a benchmark can tell a read that grows with the registry from one
that does not.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from harness import server_process

from registry_client import RegistryClient

#: The tables a hot read must reach through an index...
BIG_TABLES = ("model_versions", "registered_models", "model_events")
#: ...once they hold this many rows: below it a sequential scan of a few hundred pages can
#: be the planner's right choice (it took one of 10,000 models to hash-join a page to it).
SEQ_SCAN_ROWS = 50_000
#: A read whose shared buffers grow more than this from the first size to the last is
#: reported as growing with the registry (it does more work, whatever the timings say).
BUFFER_GROWTH = 2.0

Call = Callable[[RegistryClient, random.Random], object]

# Loaded by the capture server through PYTHONPATH: every statement SQLAlchemy sends, with
# its parameters bound by psycopg2 itself (so exactly as PostgreSQL receives it).
_SITECUSTOMIZE = """
import json, os, threading
from sqlalchemy import event
from sqlalchemy.engine import Engine

_path = os.environ["SCALE_BENCH_SQL_LOG"]
_lock = threading.Lock()


@event.listens_for(Engine, "before_cursor_execute")
def _capture(conn, cursor, statement, parameters, context, executemany):
    if executemany or conn.dialect.name != "postgresql":
        return
    try:
        literal = cursor.mogrify(statement, parameters).decode()
    except Exception:
        return
    with _lock, open(_path, "a") as out:
        record = {"template": statement, "sql": literal, "params": parameters}
        out.write(json.dumps(record, default=str) + "\\n")
"""


@dataclass
class Query:
    """A distinct statement the server sent, the operations that sent it and one real
    instance of it (its parameters bound)."""

    operations: list[str]
    template: str
    sql: str
    params: dict[str, Any]
    plans: list[dict[str, Any]] = field(default_factory=list)


def _is_hot_read(sql: str) -> bool:
    head = sql.lstrip().upper()
    return head.startswith(("SELECT", "WITH")) and any(t in sql for t in BIG_TABLES)


def capture_queries(
    url: str, folder: Path, ops: Sequence[tuple[str, Call]], rng: random.Random
) -> list[Query]:
    """Run each operation a few times on a capture server; the distinct reads it sent."""
    hook = folder / "capture"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    log_path = folder / "statements.jsonl"
    log_path.write_text("")
    env = {
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "SCALE_BENCH_SQL_LOG": str(log_path),
        "REGISTRY_PREPARED_STATEMENTS": "false",
    }
    found: dict[str, Query] = {}
    with (
        server_process(url, str(folder / "artifacts"), workers=4, env=env) as server,
        RegistryClient(server.target, timeout=120) as client,
    ):
        for label, call in ops:
            offset = log_path.stat().st_size
            for _ in range(3):
                call(client, rng)
            time.sleep(0.2)  # the stream's last page may still be on its way to the file
            with log_path.open() as log:
                log.seek(offset)
                for line in log:
                    record = json.loads(line)
                    if not _is_hot_read(record["sql"]):
                        continue
                    query = found.setdefault(
                        record["template"],
                        Query([], record["template"], record["sql"], record["params"] or {}),
                    )
                    if label not in query.operations:
                        query.operations.append(label)
    return list(found.values())


_SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")
_INDEX = re.compile(r"Index (?:Only )?Scan (?:Backward )?using (\w+)|Bitmap Index Scan on (\w+)")
_BUFFERS = re.compile(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?")
_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")
_ROWS = re.compile(r"actual time=[\d.]+\.\.[\d.]+ rows=(\d+)")


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
#: EXECUTEs before the one explained: PostgreSQL plans a prepared statement afresh for its
#: first five runs and may then switch to a generic plan for good.
_WARM_EXECUTES = 5


def explain(url: str, queries: list[Query], size: int) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) each query two ways: as text with its values, and as the
    server runs its hot lookups and first search pages (store/prepared.py): PREPAREd with
    numbered parameters and EXECUTEd, explained on the sixth run, when PostgreSQL may have
    settled on a generic plan. Keep what each scanned and how much it read."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = {
            table: int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
            for table in BIG_TABLES
        }
    raw = engine.raw_connection()
    try:
        for query in queries:
            cursor = raw.cursor()
            try:
                # The literal SQL as psycopg2 sent it: no parameters, so no % escaping.
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query.sql)
                text = "\n".join(str(r[0]) for r in cursor.fetchall())
                raw.rollback()
                prepared = _explain_prepared(cursor, query)
            finally:
                cursor.close()
                raw.rollback()
            plans = {"text": _summary(text, rows)}
            if prepared is not None:
                plans["prepared"] = _summary(prepared, rows)
            query.plans.append(
                {
                    "versions": size,
                    # The larger of the two, and every scan either made.
                    "buffers": max(p["buffers"] for p in plans.values()),
                    "seq_scans": sorted({t for p in plans.values() for t in p["seq_scans"]}),
                    **plans,
                }
            )
    finally:
        raw.close()
        engine.dispose()


def _explain_prepared(cursor: Any, query: Query) -> str | None:
    """The plan of the sixth EXECUTE of the query PREPAREd as the server prepares it (None
    when PostgreSQL cannot infer a parameter's type without the server's casts)."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    body = _PLACEHOLDER.sub(number, query.template).replace("%%", "%")
    try:
        cursor.execute(f"PREPARE scale_bench_q AS {body}")
    except Exception:
        cursor.connection.rollback()
        return None
    execute = "EXECUTE scale_bench_q"
    if order:
        arguments = ", ".join(f"%({k})s" for k in order)
        execute += "(" + cursor.mogrify(arguments, query.params).decode() + ")"
    try:
        for _ in range(_WARM_EXECUTES):
            cursor.execute(execute)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + execute)
        return "\n".join(str(r[0]) for r in cursor.fetchall())
    finally:
        cursor.connection.rollback()
        cursor.execute("DEALLOCATE scale_bench_q")


def _summary(text: str, rows: dict[str, int]) -> dict[str, Any]:
    top = _BUFFERS.search(text)
    execution = _EXECUTION.search(text)
    returned = _ROWS.search(text)
    scanned = {t for t in _SEQ_SCAN.findall(text) if t in BIG_TABLES}
    return {
        # Sequential scans of big tables that hold SEQ_SCAN_ROWS or more rows.
        "seq_scans": sorted(t for t in scanned if rows[t] >= SEQ_SCAN_ROWS),
        "any_seq_scans": sorted(scanned),
        "indexes": sorted({a or b for a, b in _INDEX.findall(text)}),
        "buffers": sum(int(g) for g in top.groups() if g) if top else 0,
        "ms": float(execution.group(1)) if execution else 0.0,
        "rows": int(returned.group(1)) if returned else 0,
        "plan": text,
    }


def growth(query: Query) -> str:
    first, last = query.plans[0]["buffers"], query.plans[-1]["buffers"]
    ratio = last / max(1, first)
    return f"{ratio:.1f}x" + (" GROWS" if ratio > BUFFER_GROWTH else "")


def short(sql: str, width: int = 150) -> str:
    """The statement's last FROM clause on (the select lists are long and alike; the last
    FROM is where the page or the lookup is decided)."""
    start = sql.rfind("\nFROM ")
    flat = " ".join(sql[start + 1 if start >= 0 else 0 :].split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
