"""The tables a run prints, the targets they are read against, and the figures as JSON."""

from __future__ import annotations

from typing import Any

from harness import machine_info, print_table
from sql_plans import Query, growth, short

from .cells import Cell
from .sizes import Sizes


def _ratio(value: float, first: float) -> str:
    return f"{value / first:.2f}x" if first else "-"


#: The targets: (operation, how far its p50 may grow from the first size).
TARGETS = {
    "get by alias": 1.5,
    "resolve models:/m@champion": 1.5,
    "get version": 1.5,
    # "Flat": the same work at every size; 1.5x leaves room for this machine's noise.
    "search versions of one model (page 100)": 1.5,
}


def report(
    cells: list[Cell], steps: list[int], all_sizes: list[Sizes], queries: list[Query]
) -> list[str]:
    """Print the tables; return the targets missed."""
    first = steps[0]
    by_key = {(c.operation, c.concurrency, c.versions): c.timing for c in cells}
    keys = list(dict.fromkeys((c.operation, c.concurrency) for c in cells))
    headers: list[str] = ["operation", "c"]
    for size in steps:
        headers += [f"{size:,}: ops/s", "p50 ms", "p99 ms"]
    headers.append("errors")
    rows: list[list[object]] = []
    for op, concurrency in keys:
        row: list[object] = [op, concurrency]
        for size in steps:
            t = by_key[(op, concurrency, size)]
            row += [t.ops_per_s, t.p50_ms, t.p99_ms]
        row.append(sum(by_key[(op, concurrency, s)].errors for s in steps))
        rows.append(row)
    print()
    print("Through the public client, a client (and channel) per thread")
    print_table(headers, rows)

    missed: list[str] = []
    growth_headers = ["operation", "c"]
    for size in steps[1:]:
        growth_headers += [f"{size:,}: ops/s", "p50", "p99"]
    growth_headers.append("target (p50)")
    grown: list[list[object]] = []
    for op, concurrency in keys:
        base = by_key[(op, concurrency, first)]
        row = [op, concurrency]
        for size in steps[1:]:
            t = by_key[(op, concurrency, size)]
            row += [
                _ratio(t.ops_per_s, base.ops_per_s),
                _ratio(t.p50_ms, base.p50_ms),
                _ratio(t.p99_ms, base.p99_ms),
            ]
        limit = TARGETS.get(op)
        worst = max(by_key[(op, concurrency, s)].p50_ms / base.p50_ms for s in steps)
        if limit is None:
            row.append("-")
        elif worst <= limit:
            row.append(f"<= {limit}x: met")
        else:
            row.append(f"<= {limit}x: MISSED")
            missed.append(f"{op} at c={concurrency}: p50 grew {worst:.2f}x")
        grown.append(row)
    print()
    print(f"Growth against {first:,} versions (ratio of each figure to its {first:,} one)")
    print_table(growth_headers, grown)

    print()
    print("Database size (tables with their indexes and TOAST)")
    print_table(
        ["versions", "models", "events", "bytes/version", "bytes/event", "bytes/model", "total"],
        [
            [
                f"{s.versions:,}",
                f"{s.models:,}",
                f"{s.events:,}",
                s.per_version,
                s.per_event,
                s.model_bytes / max(1, s.models),
                f"{s.database_bytes / 2**20:,.0f} MiB",
            ]
            for s in all_sizes
        ],
    )

    print()
    print(
        "EXPLAIN (ANALYZE, BUFFERS) of every read the server sent, at each size: shared buffers"
        " (the larger of text and prepared), and at the last size ms as text / prepared"
    )
    print_table(
        [
            "query",
            *[f"buffers at {s:,}" for s in steps],
            "growth",
            "ms",
            "rows",
            "seq scans (big tables)",
            "indexes",
        ],
        [
            [
                f"Q{n}",
                *[p["buffers"] for p in q.plans],
                growth(q),
                " / ".join(
                    f"{q.plans[-1][m]['ms']:.2f}" for m in ("text", "prepared") if m in q.plans[-1]
                ),
                q.plans[-1]["text"]["rows"],
                ",".join(sorted({t for p in q.plans for t in p["seq_scans"]})) or "none",
                ",".join(
                    sorted(
                        {
                            i
                            for m in ("text", "prepared")
                            for i in q.plans[-1].get(m, {}).get("indexes", [])
                        }
                    )
                )
                or "-",
            ]
            for n, q in enumerate(queries, start=1)
        ],
    )
    for n, q in enumerate(queries, start=1):
        print(f"  Q{n} ({'; '.join(q.operations)}): {short(q.template)}")
    return missed


def print_seq_scans(unindexed: list[Query]) -> None:
    """Each read that scanned a big table sequentially, with the plans that did."""
    for query in unindexed:
        print(f"\nSEQ SCAN in a hot read ({'; '.join(query.operations)}):\n{query.sql}")
        for plan in query.plans:
            for mode in ("text", "prepared"):
                if plan.get(mode, {}).get("seq_scans"):
                    print(f"-- {mode}, at {plan['versions']:,} versions:\n{plan[mode]['plan']}")


def figures(
    steps: list[int],
    model_counts: list[int],
    cells: list[Cell],
    all_sizes: list[Sizes],
    queries: list[Query],
) -> dict[str, Any]:
    """What `--json` writes."""
    return {
        "machine": machine_info(),
        "steps": steps,
        "models": model_counts,
        "cells": [
            {"operation": c.operation, "concurrency": c.concurrency, "versions": c.versions}
            | c.timing.__dict__
            for c in cells
        ],
        "sizes": [
            s.__dict__ | {"per_version": s.per_version, "per_event": s.per_event} for s in all_sizes
        ],
        "queries": [q.__dict__ for q in queries],
    }
