"""The report: one table of throughput, latency and errors per (operation, concurrency)
with our server's ratio to each MLflow setup, one of CPU per call, then the errors, the
correctness checks and what each system was.

Figures are printed, never judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import print_table

from .apis import OURS, SystemTarget
from .stats import CellResult


def _ratio(ours: CellResult | None, other: CellResult | None) -> str:
    if ours is None or other is None:
        return "-"
    if other.ops_per_s == 0:
        return "inf" if ours.ops_per_s else "-"
    return f"{ours.ops_per_s / other.ops_per_s:.2f}x"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def print_report(
    cells: Sequence[CellResult],
    checks: Sequence[dict[str, Any]],
    labels: Sequence[str],
    ops: Sequence[str],
    concurrencies: Sequence[int],
) -> None:
    by_key = {(c.op, c.concurrency, c.system): c for c in cells}
    others = [label for label in labels if label != OURS]
    headers = ["op", "c"]
    for label in labels:
        headers += [f"{label} op/s", "p50 ms", "p99 ms", "err"]
    headers += [f"ours/{label}" for label in others]
    rows: list[list[object]] = []
    cpu_rows: list[list[object]] = []
    for op in ops:
        for c in concurrencies:
            row: list[object] = [op, c]
            cpu_row: list[object] = [op, c]
            for label in labels:
                cell = by_key.get((op, c, label))
                if cell is None:
                    row += ["-"] * 4
                    cpu_row += ["-"] * 3
                    continue
                row += [f"{cell.ops_per_s:,.1f}", ms(cell.p50_ms), ms(cell.p99_ms)]
                row.append(cell.all_errors)
                cpu_row += [ms(cell.cpu_ms_per_call("server")), ms(cell.cpu_ms_per_call("db"))]
                cpu_row.append("-" if cell.db_sessions_opened is None else cell.db_sessions_opened)
            ours = by_key.get((op, c, OURS))
            row += [_ratio(ours, by_key.get((op, c, label))) for label in others]
            rows.append(row)
            cpu_rows.append(cpu_row)
    print()
    print_table(headers, rows)
    print()
    print(
        "CPU per successful call, ms: the server's processes / its PostgreSQL backends"
        " (those alive at the end of the window),\nand database connections opened during"
        " the window (their backends' CPU is missing from db)"
    )
    cpu_headers = ["op", "c"]
    for label in labels:
        cpu_headers += [f"{label} server", "db", "conns"]
    print_table(cpu_headers, cpu_rows)
    print(
        "\nOur server's resident memory (RSS) per process at the end of each window, MiB"
        " (largest first; a single-process tree is one figure)"
    )
    print_table(
        ["op", "c", "RSS MiB"],
        [
            [cell.op, cell.concurrency, " / ".join(f"{m:.0f}" for m in cell.server_rss_mib)]
            for cell in cells
            if cell.system == OURS
        ],
    )
    errored = [c for c in cells if c.all_errors]
    if errored:
        print("\nErrors (first distinct messages per cell):")
        for cell in errored:
            print(f"  {cell.op} c{cell.concurrency} {cell.system}: {cell.all_errors} errors")
            for message, count in cell.error_messages[:3]:
                print(f"    {count} x {message}")
    if checks:
        print("\nCorrectness checks:")
    for check in checks:
        status = "OK" if check["ok"] else "FAILED"
        where = f"  {check['check']} c{check['concurrency']} {check['system']}:"
        if "error" in check:
            print(f"{where} could not check: {check['error']}: {status}")
        elif check["check"] == "create_version":
            print(
                f"{where} gapless: {str(check['gapless']).lower()}, {check['versions']} versions"
                f" (max {check['max_version']}) for {check['acknowledged']} acknowledged"
                f" creates: {status}"
            )
        else:
            print(
                f"{where} {check['in_production']} version(s) in Production"
                f" (stages {check['stages']}): {status}"
            )


def print_setup(
    targets: Sequence[SystemTarget], ops: Sequence[str], our_client: str, notes: Sequence[str]
) -> None:
    """What each system was and how it was called, under the tables."""
    called = {"stub": "the generated stub", "client": "RegistryClient"}[our_client]
    print(f"ours: {targets[0].description}, called through {called}")
    for target in targets[1:]:
        print(f"{target.label}: {target.description}, REST via requests")
    if any(t.label == "mlflow" for t in targets):
        print(
            "mlflow's default of 4 uvicorn workers leaves Nagle's algorithm on (no TCP_NODELAY"
            " on accepted sockets): about 40 ms more per request on a kept-alive connection;"
            " measured as shipped"
        )
    if "resolve" in ops and len(targets) > 1:
        print(
            "resolve on MLflow = 2 requests (get version by alias, then get-download-uri),"
            " as MLflow's client does it; ours = 1 ResolveModelUri call"
        )
    for note in notes:
        print(f"note: {note}")
