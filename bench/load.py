"""Mixed load on PostgreSQL: throughput, p50/p99 per operation and errors.

The workload of tests/test_load.py (tests/support/load.py): many clients, each with its own
channel, resolving `models:/` URIs (80 %), creating versions (10 %), moving stages and aliases
(10 %), against `registry-server serve` in its own process on a throwaway database. Afterwards
it checks that every acknowledged write is there exactly once and prints what it found.

    .venv/bin/python bench/load.py                         # 64 clients, 60 s, local PostgreSQL
    .venv/bin/python bench/load.py --clients 16 --seconds 10 --workers 32 --json load.json
    REGISTRY_BENCH_DATABASE_URL=postgresql+psycopg2://user@host/postgres bench/load.py

`REGISTRY_BENCH_DATABASE_URL` names an administrative database on the server to use (a new
database is created beside it and dropped afterwards); the default is postgres on
127.0.0.1:5432. Exits 1 when a call failed or an acknowledged write is missing; timings are
only printed, never judged.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The workload lives with the tests that check it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import DEFAULT_ADMIN_URL, print_table, server_process, throwaway_database, write_json
from support.load import Ledger, LoadRunner, seed_models
from support.load_checks import verify

from registry_client import RegistryClient
from registry_server import migrate
from registry_server.store.database import make_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the load (60)")
    parser.add_argument("--models", type=int, default=8, help="models the clients share (8)")
    parser.add_argument("--workers", type=int, default=16, help="server worker threads (16)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    ledger = Ledger(tuple(f"{prefix}-{i}" for i in range(args.models)))
    with (
        throwaway_database(admin_url) as database_url,
        tempfile.TemporaryDirectory(prefix="registry-bench-") as folder,
    ):
        engine = make_engine(database_url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        with (
            server_process(
                database_url, f"{folder}/artifacts", workers=args.workers, log_level="INFO"
            ) as server,
            RegistryClient(server.target, actor="bench-seed") as client,
        ):
            seed_models(client, ledger)
            print(
                f"{args.clients} clients, {args.seconds:.0f} s, {args.models} models, "
                f"{args.workers} server workers (pid {server.pid}) ...",
                flush=True,
            )
            result = LoadRunner(server.target, ledger, clients=args.clients).run(args.seconds)
            started = time.monotonic()
            problems = verify(client, ledger, complete=True)
            checked_in = time.monotonic() - started

    stats = result.stats()
    print()
    print_table(
        ["operation", "calls", "ok", "refused", "errors", "calls/s", "p50 ms", "p99 ms"],
        [
            (
                s.op,
                s.calls,
                s.ok,
                s.refused,
                sum(s.errors.values()),
                s.per_second,
                s.p50_ms,
                s.p99_ms,
            )
            for s in stats
        ],
    )
    failures = result.failures()
    total = len(result.records)
    print(
        f"\n{total} calls in {result.seconds:.1f} s: {total / result.seconds:,.0f} calls/s; "
        f"{len(failures)} errors; {result.hung_clients} clients hung"
    )
    for failure in failures[:10]:
        print(f"  error: {failure.op} {failure.code} after {failure.elapsed * 1000:.0f} ms")
    print(f"acknowledged writes checked in {checked_in:.1f} s: ", end="")
    print("all present exactly once" if not problems else f"{len(problems)} problems")
    for problem in problems[:20]:
        print(f"  {problem}")
    write_json(
        args.json,
        {
            "clients": args.clients,
            "seconds": result.seconds,
            "workers": args.workers,
            "models": args.models,
            "calls": total,
            "errors": len(failures),
            "operations": [{**s.__dict__, "errors": dict(s.errors)} for s in stats],
            "problems": problems,
        },
    )
    return 1 if failures or problems or result.hung_clients else 0


if __name__ == "__main__":
    sys.exit(main())
