"""The command line: flags, the order of a run (servers, client processes, seeding, cells,
report) and cleaning up after it, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy as sa
from harness import DEFAULT_ADMIN_URL, machine_info, throwaway_database, write_json

import mlflow_compare
from registry_server.config import parse_processes

from .apis import OURS, PAGE_SIZE, System, SystemTarget
from .driver import ClientPool, client_pool, run_cell
from .report import ms, print_report, print_setup
from .seeding import SEED_WORKERS, SeedReport, check_after, seed
from .servers import MlflowServer, mlflow_server, our_server, stop_all
from .stats import MAX_MESSAGES, CellResult, CpuMeter, wait_until_idle
from .workloads import OPS, SMALL_VERSIONS, Fixtures


def _parse_list(text: str, parse: Callable[[str], Any], what: str) -> list[Any]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"no {what} given")
    try:
        return [parse(item) for item in items]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad {what} in {text!r}: {exc}") from None


def _op_name(text: str) -> str:
    if text not in OPS:
        raise ValueError(f"{text!r} is not one of {', '.join(OPS)}")
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{value} is not positive")
    return value


def _mlflow_workers(text: str) -> int | None:
    return None if text == "default" else _positive_int(text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Our registry vs MLflow's model registry, side by side.",
        epilog=mlflow_compare.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per cell (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds first (2)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--ops",
        type=lambda s: _parse_list(s, _op_name, "operation"),
        default=list(OPS),
        help=f"comma-separated operations (default all: {','.join(OPS)})",
    )
    parser.add_argument(
        "--concurrency",
        type=lambda s: _parse_list(s, _positive_int, "concurrency"),
        default=[1, 16],
        help="comma-separated numbers of concurrent workers (1,16)",
    )
    parser.add_argument(
        "--mlflow-workers",
        type=lambda s: _parse_list(s, _mlflow_workers, "MLflow workers"),
        default=[None, 1],
        help="MLflow setups: 'default' (no --workers: 4) and/or worker counts (default,1)",
    )
    parser.add_argument(
        "--client-processes",
        type=_positive_int,
        default=4,
        help="at most this many load-generating processes per concurrency (4)",
    )
    parser.add_argument(
        "--search-size",
        type=_positive_int,
        default=1000,
        help="models seeded for search_models (a tenth match) and versions of the model"
        " search_versions reads (1000)",
    )
    parser.add_argument(
        "--processes",
        default="auto",
        help="our server's --processes (auto: one per core, as a production deployment on "
        "this machine would run it; MLflow's default runs 4 worker processes)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="our server's threads per process (default 16 in all, split over the processes,"
        " which also bounds its PostgreSQL connections: MLflow's setups need many of the"
        " 100 a default PostgreSQL allows)",
    )
    parser.add_argument(
        "--artifacts-mib",
        type=int,
        default=256,
        help="then move a model of this many MiB through our server and directly with the"
        " minio client (bench/artifact_transfer.py); 0 skips it (256)",
    )
    parser.add_argument(
        "--our-client",
        choices=("stub", "client"),
        default="stub",
        help="how our server is called: 'stub', the generated gRPC stub with the messages"
        " decoded, as far as MLflow's JSON is taken (default); 'client', RegistryClient, which"
        " also builds its frozen dataclasses (about 8 us per version on the bench machine)",
    )
    parser.add_argument("--no-mlflow", action="store_true", help="measure our server only")
    parser.add_argument(
        "--open-server",
        action="store_true",
        help="run our server without authentication and metrics (by default it requires a"
        " bearer token, the bench calling with a global writer's, and collects metrics on"
        " --http-listen: the setting of a production deployment)",
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")
    args.ops = list(dict.fromkeys(args.ops))
    args.concurrency = list(dict.fromkeys(args.concurrency))
    args.mlflow_workers = list(dict.fromkeys(args.mlflow_workers))
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwind like Ctrl-C does, so that servers are stopped and databases dropped.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, databases dropped", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    ops: list[str] = args.ops
    concurrencies: list[int] = args.concurrency
    notes: list[str] = []
    mlflow_version: str | None = None
    if importlib.util.find_spec("mlflow") is not None:
        mlflow_version = importlib.metadata.version("mlflow")
    if args.no_mlflow:
        notes.append("--no-mlflow: our server only")
    elif mlflow_version is None:
        notes.append("mlflow is not installed (pip install -e '.[bench]'): our server only")
    setups: list[int | None] = (
        [] if args.no_mlflow or mlflow_version is None else args.mlflow_workers
    )
    fx = Fixtures(prefix=f"vs{uuid.uuid4().hex[:8]}", search_size=args.search_size)
    labels = [OURS] + ["mlflow" if w is None else f"mlflow-w{w}" for w in setups]
    cells_planned = len(ops) * len(concurrencies) * len(labels)
    print(
        f"{len(ops)} operations x concurrency {','.join(map(str, concurrencies))} x"
        f" {len(labels)} systems ({', '.join(labels)}): {cells_planned} cells of"
        f" {args.warmup:g} s warm-up + {args.seconds:g} s, about"
        f" {cells_planned * (args.warmup + args.seconds + 1) / 60:.1f} min after start-up"
        " and seeding",
        flush=True,
    )
    for note in notes:
        print(f"note: {note}")

    cells: list[CellResult] = []
    checks: list[dict[str, Any]] = []
    seeding: list[SeedReport] = []
    systems_info: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vs-mlflow-")))
        our_url = stack.enter_context(throwaway_database(admin_url))
        servers: list[MlflowServer] = []
        for workers, label in zip(setups, labels[1:], strict=True):
            url = stack.enter_context(throwaway_database(admin_url))
            servers.append(stack.enter_context(mlflow_server(label, url, folder / label, workers)))
        stack.callback(stop_all, servers)
        print("starting servers ...", flush=True)
        started = time.monotonic()
        processes = parse_processes(args.processes)
        workers = args.workers or max(4, 16 // processes)
        production = not args.open_server
        ours = stack.enter_context(
            our_server(
                our_url,
                str(folder / "ours-artifacts"),
                processes=processes,
                workers=workers,
                production=production,
            )
        )
        setting = (
            "authentication required (a writer's token), metrics on (--http-listen)"
            if production
            else "no authentication, no metrics (--open-server)"
        )
        targets = [
            SystemTarget(
                OURS,
                OURS,
                ours.process.target,
                f"registry-server serve (gRPC), {processes} process(es) x {workers} threads,"
                f" {setting}",
                client=args.our_client,
                token=ours.token,
            )
        ]
        pids = [ours.process.pid]
        urls = [our_url]
        for server in servers:
            server.wait_ready()
            workers_text = "default: 4" if server.workers is None else str(server.workers)
            targets.append(
                SystemTarget(
                    server.label,
                    "mlflow",
                    server.url,
                    f"mlflow {mlflow_version} server, uvicorn workers {workers_text}",
                )
            )
            pids.append(server.pid)
            urls.append(server.database_url)
        print(f"servers up in {time.monotonic() - started:.0f} s", flush=True)
        admin = sa.create_engine(admin_url, pool_size=1)
        stack.callback(admin.dispose)
        meter = CpuMeter(admin)
        with admin.connect() as conn:
            max_connections = int(conn.exec_driver_sql("SHOW max_connections").scalar() or 0)
        systems: list[System] = []
        for target, pid, url in zip(targets, pids, urls, strict=True):
            api = target.connect("bench-parent")
            stack.callback(api.close)
            systems.append(System(target, pid, url, api))
            systems_info.append({**asdict(target), "pid": pid})
        pools: dict[int, ClientPool] = {}
        for c in concurrencies:
            processes = min(c, args.client_processes)
            pools[c] = stack.enter_context(client_pool(c, processes, targets))
        print(
            "client processes: " + ", ".join(f"c{c}: {p.processes}" for c, p in pools.items()),
            flush=True,
        )
        waited = wait_until_idle(pids)
        print(
            "servers idle after another "
            + ("(timed out)" if waited is None else f"{waited:.0f} s")
            + (
                " (MLflow starts its job runner and huey consumers after /health)"
                if servers
                else ""
            ),
            flush=True,
        )
        # Seeding goes through the APIs, so it wants many workers even for a c1-only run.
        seeder = pools[max(concurrencies)]
        if seeder.concurrency < SEED_WORKERS:
            seeder = stack.enter_context(
                client_pool(SEED_WORKERS, min(SEED_WORKERS, args.client_processes), targets)
            )
        for system in systems:
            report = seed(seeder, system, fx, ops, concurrencies)
            seeding.append(report)
            print(
                f"seeded {system.label} in {report.seconds:.1f} s: {report.created} created,"
                f" {report.errors} errors, {report.topped_up} added afterwards,"
                f" VACUUM ANALYZE {report.analyze_seconds:.1f} s,"
                f" search rows {report.search_rows}",
                flush=True,
            )
            for message, count in report.error_messages:
                print(f"    {count} x {message}")

        for op in ops:
            for c in concurrencies:
                for system in systems:
                    cell = run_cell(
                        pools[c],
                        system,
                        op,
                        fx,
                        warmup=args.warmup,
                        seconds=args.seconds,
                        meter=meter,
                    )
                    cells.append(cell)
                    print(
                        f"  {op:16} c{c:<3} {system.label:12} {cell.calls:6} calls"
                        f" {cell.ops_per_s:9,.1f} op/s"
                        f"  p50 {ms(cell.p50_ms):>6} ms  p99 {ms(cell.p99_ms):>6} ms"
                        f"  errors {cell.all_errors}",
                        flush=True,
                    )
                    check = check_after(system, fx, cell)
                    if check is not None:
                        checks.append(check)

        if any("too many clients" in m for cell in cells for m, _ in cell.error_messages):
            notes.append(
                f"'too many clients': PostgreSQL's max_connections ({max_connections}) was"
                " reached by the connection pools of all the servers (idle ones keep theirs)"
                " and any other users of that PostgreSQL together; the system that got the"
                " error was not necessarily the one holding most connections"
            )
        if production:
            # The metrics were collected, not just switched on: every call is counted.
            notes.append(
                f"our server's metrics counted {ours.counted_calls():,.0f} calls"
                " (grpc_server_handled_total on its /metrics)"
            )
        print_report(cells, checks, labels, ops, concurrencies)
        print()
        print_setup(targets, ops, args.our_client, notes)
        write_json(
            args.json,
            {
                "machine": machine_info() | {"mlflow": mlflow_version},
                "settings": {
                    "our_client": args.our_client,
                    "our_server": "open" if args.open_server else "production",
                    "seconds": args.seconds,
                    "warmup": args.warmup,
                    "ops": ops,
                    "concurrency": concurrencies,
                    "mlflow_workers": ["default" if w is None else w for w in setups],
                    "client_processes": {str(c): p.processes for c, p in pools.items()},
                    "search_size": args.search_size,
                    "small_model_versions": SMALL_VERSIONS,
                    "page_size": PAGE_SIZE,
                    "prefix": fx.prefix,
                    "postgres_max_connections": max_connections,
                },
                "systems": systems_info,
                "notes": notes,
                "seeding": seeding,
                "cells": [
                    {
                        **asdict(cell),
                        "error_messages": cell.error_messages[:MAX_MESSAGES],
                        "server_cpu_ms_per_call": cell.cpu_ms_per_call("server"),
                        "db_cpu_ms_per_call": cell.cpu_ms_per_call("db"),
                    }
                    for cell in cells
                ],
                "checks": checks,
            },
        )
        print("stopping servers ...", flush=True)

    ours_failed = any(c.all_errors for c in cells if c.system == OURS)
    ours_failed |= any(s.errors for s in seeding if s.system == OURS)
    ours_failed |= any(not c["ok"] for c in checks if c["system"] == OURS)
    if args.artifacts_mib:
        ours_failed |= run_artifact_transfer(args.artifacts_mib, args.json)
    return 1 if ours_failed else 0


def run_artifact_transfer(size_mib: int, json_path: str | None) -> bool:
    """The artifact half of the comparison, after the servers above have stopped:
    bench/artifact_transfer.py moves one file of `size_mib` through our server and
    directly with the minio client against the same S3 endpoint (see its docstring).
    Its table is printed as it runs; its JSON goes under "artifacts". True if it failed."""
    print(f"\nartifact transfer, {size_mib} MiB, through our server vs direct minio:", flush=True)
    script = Path(__file__).resolve().parent.parent / "artifact_transfer.py"
    with tempfile.TemporaryDirectory(prefix="vs-artifacts-") as folder:
        out = Path(folder) / "artifacts.json"
        done = subprocess.run(
            [sys.executable, str(script), "--size-mib", str(size_mib), "--json", str(out)],
            check=False,
        )
        if json_path and out.exists():
            payload = json.loads(Path(json_path).read_text())
            payload["artifacts"] = json.loads(out.read_text())
            write_json(json_path, payload)
    return done.returncode != 0


if __name__ == "__main__":
    sys.exit(main())
