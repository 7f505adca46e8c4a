"""Search latency at scale: 10,000 models and 100,000 versions on PostgreSQL.

Seeds a throwaway database straight through the schema's tables (going
through the API would take minutes and measure writes, not search), starts
`registry-server serve` on it in its own process, and times typical
SearchRegisteredModels / SearchModelVersions calls through the public client,
one at a time, printing p50 and p99 per query.

    .venv/bin/python bench/search.py                 # local PostgreSQL
    REGISTRY_BENCH_DATABASE_URL=postgresql+psycopg2://user@host/db \\
        .venv/bin/python bench/search.py --seconds 5 --json search.json

`REGISTRY_BENCH_DATABASE_URL` names an administrative database on the server
to use (a new database is created beside it and dropped afterwards);
the default is postgres on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_ADMIN_URL,
    Timing,
    print_table,
    server_process,
    throwaway_database,
    time_calls,
    write_json,
)

from registry_client import RegistryClient
from registry_server import migrate
from registry_server.store import schema

TEAMS = (
    "risk",
    "growth",
    "ads",
    "search",
    "payments",
    "fraud",
    "support",
    "ops",
    "pricing",
    "vision",
    "speech",
    "ranking",
    "infra",
    "security",
    "retail",
    "credit",
    "health",
    "logistics",
    "media",
    "travel",
)
KINDS = ("fraud", "churn", "ranker", "embedder", "classifier", "forecaster", "detector")
FRAMEWORKS = ("xgboost", "pytorch", "sklearn", "lightgbm", "tensorflow")
TIERS = ("gold", "silver", "bronze")
BIG_MODEL = "risk-fraud-big"
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Seeded:
    models: int
    versions: int
    seconds: float
    some_model: str
    some_run: str
    some_digest: str
    mid_time: int


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def seed(url: str, models: int, versions: int, big_versions: int, rng: random.Random) -> Seeded:
    """Insert `models` models and `versions` versions; one model gets `big_versions`."""
    started = time.monotonic()
    engine = sa.create_engine(url)
    migrate.upgrade(engine)
    now = int(time.time() * 1000)
    year_ago = now - 365 * DAY_MS
    model_rows: list[dict[str, Any]] = []
    model_tags: list[dict[str, Any]] = []
    names = [BIG_MODEL] + [
        f"{TEAMS[i % len(TEAMS)]}-{KINDS[(i // len(TEAMS)) % len(KINDS)]}-{i:05d}"
        for i in range(1, models)
    ]
    per_model = [big_versions, *_spread(versions - big_versions, models - 1, rng)]
    for model_id, (name, count) in enumerate(zip(names, per_model, strict=True), start=1):
        created = year_ago + rng.randrange(300 * DAY_MS)
        model_rows.append(
            {
                "id": model_id,
                "name": name,
                "description": f"{name} model",
                "creation_time": created,
                "last_updated_time": created + count * 3_600_000,
                "last_version": count,
                "created_by": "bench",
            }
        )
        team = name.split("-")[0]
        model_tags.append({"model_id": model_id, "key": "team", "value": team})
        model_tags.append({"model_id": model_id, "key": "tier", "value": rng.choice(TIERS)})
    version_rows: list[dict[str, Any]] = []
    version_tags: list[dict[str, Any]] = []
    datasets: list[dict[str, Any]] = []
    aliases: list[dict[str, Any]] = []
    version_id = 0
    for model_id, count in enumerate(per_model, start=1):
        created = model_rows[model_id - 1]["creation_time"]
        first_id = version_id + 1
        for number in range(1, count + 1):
            version_id += 1
            stage = (
                "Production"
                if number == count
                else "Staging"
                if number == count - 1
                else "Archived"
                if number > count - 5
                else "None"
            )
            t = created + number * 3_600_000
            version_rows.append(
                {
                    "id": version_id,
                    "model_id": model_id,
                    "version": number,
                    "creation_time": t,
                    "last_updated_time": t,
                    "source": f"s3://models/{model_id}/{number}",
                    "stage": stage,
                    "status": "READY",
                    "created_by": "bench",
                    "run_id": f"run-{rng.randrange(versions // 2)}",
                    "experiment_id": str(model_id % 100),
                }
            )
            version_tags.append(
                {"version_id": version_id, "key": "framework", "value": rng.choice(FRAMEWORKS)}
            )
            version_tags.append(
                {
                    "version_id": version_id,
                    "key": "validated",
                    "value": "true" if rng.random() < 0.7 else "false",
                }
            )
            datasets.append(
                {
                    "version_id": version_id,
                    "position": 0,
                    "name": "transactions",
                    "digest": f"sha256:{rng.randrange(versions // 20):08x}",
                    "source_uri": "s3://data/tx/",
                }
            )
        if count and rng.random() < 0.5:
            aliases.append({"model_id": model_id, "alias": "champion", "version_id": version_id})
        if count > 1 and rng.random() < 0.2:
            aliases.append({"model_id": model_id, "alias": "challenger", "version_id": first_id})
    with engine.begin() as conn:
        for table, rows in (
            (schema.registered_models, model_rows),
            (schema.registered_model_tags, model_tags),
            (schema.model_versions, version_rows),
            (schema.model_version_tags, version_tags),
            (schema.model_version_datasets, datasets),
            (schema.registered_model_aliases, aliases),
        ):
            for chunk in _chunks(rows):
                conn.execute(table.insert(), chunk)
        if conn.dialect.name == "postgresql":
            # Explicit ids were inserted: move the sequences past them.
            for sequence_table in ("registered_models", "model_versions"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{sequence_table}', 'id'),"
                    f" (SELECT max(id) FROM {sequence_table}))"
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    mid = version_rows[len(version_rows) // 2]
    return Seeded(
        models=models,
        versions=len(version_rows),
        seconds=time.monotonic() - started,
        some_model=names[len(names) // 3],
        some_run=mid["run_id"],
        some_digest=datasets[len(datasets) // 2]["digest"],
        mid_time=year_ago + 200 * DAY_MS,
    )


def _spread(total: int, buckets: int, rng: random.Random) -> list[int]:
    """Split `total` into `buckets` counts of 1..~2x the mean."""
    counts = [1] * buckets
    for _ in range(total - buckets):
        counts[rng.randrange(buckets)] += 1
    return counts


def queries(client: RegistryClient, seeded: Seeded) -> list[tuple[str, str, Callable[[], object]]]:
    """(kind, description, call) for the typical searches users run."""
    second_page_models = client.search_registered_models("name LIKE 'risk-%'", 100).token
    big = client.search_model_versions(f"name = '{BIG_MODEL}'", 100)
    fifth_page = big.token
    for _ in range(3):
        fifth_page = client.search_model_versions(
            f"name = '{BIG_MODEL}'", 100, page_token=fifth_page
        ).token

    def models(filter_string: str, order_by: list[str] | None = None, token: str | None = None):
        return lambda: client.search_registered_models(filter_string, 100, order_by, token)

    def versions(filter_string: str, order_by: list[str] | None = None, token: str | None = None):
        return lambda: client.search_model_versions(filter_string, 100, order_by, token)

    return [
        ("models", f"name = '{seeded.some_model}'", models(f"name = '{seeded.some_model}'")),
        ("models", "name LIKE 'risk-%'", models("name LIKE 'risk-%'")),
        (
            "models",
            "name LIKE 'risk-%' (page 2)",
            models("name LIKE 'risk-%'", None, second_page_models),
        ),
        ("models", "name ILIKE '%FRAUD-000%'", models("name ILIKE '%FRAUD-000%'")),
        ("models", "tags.team = 'risk'", models("tags.team = 'risk'")),
        (
            "models",
            "alias = 'champion' AND tags.tier = 'gold'",
            models("alias = 'champion' AND tags.tier = 'gold'"),
        ),
        (
            "models",
            "(all) ORDER BY last_updated_timestamp DESC",
            models("", ["last_updated_timestamp DESC"]),
        ),
        ("versions", f"name = '{BIG_MODEL}' (1,000 versions)", versions(f"name = '{BIG_MODEL}'")),
        (
            "versions",
            f"name = '{BIG_MODEL}' (page 5)",
            versions(f"name = '{BIG_MODEL}'", None, fifth_page),
        ),
        ("versions", f"run_id = '{seeded.some_run}'", versions(f"run_id = '{seeded.some_run}'")),
        (
            "versions",
            "current_stage = 'Production' AND name LIKE 'risk-%'",
            versions("current_stage = 'Production' AND name LIKE 'risk-%'"),
        ),
        (
            "versions",
            "tags.framework = 'xgboost' AND version_number >= 5",
            versions("tags.framework = 'xgboost' AND version_number >= 5"),
        ),
        ("versions", "alias = 'champion'", versions("alias = 'champion'")),
        (
            "versions",
            f"dataset.digest = '{seeded.some_digest}'",
            versions(f"dataset.digest = '{seeded.some_digest}'"),
        ),
        (
            "versions",
            "creation_timestamp > T OR current_stage = 'Staging'",
            versions(
                f"creation_timestamp > {seeded.mid_time} OR current_stage = 'Staging'",
                ["creation_timestamp DESC"],
            ),
        ),
        ("versions", "(all, default order)", versions("")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Search p50/p99 at 10,000 models / 100,000 versions on PostgreSQL.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--big-model-versions", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per query")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    admin_url = os.environ.get("REGISTRY_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    rng = random.Random(args.seed)
    with throwaway_database(admin_url, keep=args.keep) as url:
        print(f"seeding {args.models:,} models / {args.versions:,} versions ...", flush=True)
        seeded = seed(url, args.models, args.versions, args.big_model_versions, rng)
        print(f"seeded in {seeded.seconds:.1f} s", flush=True)
        with (
            tempfile.TemporaryDirectory(prefix="registry-bench-") as folder,
            server_process(
                url, str(Path(folder) / "artifacts"), workers=None, log_level="INFO"
            ) as server,
            RegistryClient(server.target, timeout=60) as client,
        ):
            rows: list[list[object]] = []
            results: list[dict[str, object]] = []
            for kind, label, call in queries(client, seeded):
                returned = len(call())  # type: ignore[arg-type]
                timing: Timing = time_calls(label, call, duration=args.seconds, warmup=0.5)
                rows.append(
                    [
                        kind,
                        label,
                        returned,
                        timing.calls,
                        timing.errors,
                        timing.p50_ms,
                        timing.p99_ms,
                    ]
                )
                results.append({"kind": kind, "rows": returned, **timing.__dict__})
                print(f"  {kind:8} {label}: p50 {timing.p50_ms:.2f} ms", flush=True)
    print()
    print(
        f"Search on PostgreSQL, {seeded.models:,} models / {seeded.versions:,} versions,"
        " page size 100, one client, through gRPC"
    )
    print_table(["search", "filter", "rows", "calls", "errors", "p50 ms", "p99 ms"], rows)
    write_json(
        args.json,
        {"models": seeded.models, "versions": seeded.versions, "queries": results},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
