"""Fixtures and checks: what the operations need created before timing, and the
correctness checks that follow the cells that write (gapless version numbers, exactly one
version in Production).

Fixtures go through each system's own API, with many workers, then the database is VACUUM
ANALYZEd: fresh tables without planner statistics made MLflow's model search tens of times
slower, which no long-running deployment would see.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness import analyze_database

from .apis import System, describe_error
from .driver import ClientPool, SeedCommand
from .stats import CellPart, CellResult
from .workloads import ALIAS, SMALL_MODEL_OPS, SMALL_VERSIONS, Fixtures

#: Fewest workers that seed the fixtures.
SEED_WORKERS = 8


@dataclass
class SeedReport:
    """How seeding one system went: its time is a figure of its own (bulk writes)."""

    system: str
    seconds: float
    created: int
    errors: int
    error_messages: list[tuple[str, int]]
    topped_up: int  # versions added one by one afterwards, for failed bulk calls
    analyze_seconds: float
    search_rows: dict[str, int]


def seed(
    pool: ClientPool,
    system: System,
    fx: Fixtures,
    ops: Sequence[str],
    concurrencies: Sequence[int],
) -> SeedReport:
    """Create the models and versions the operations need, through the system's own API
    and with all the pool's workers; versions a failed call left missing are then added
    one by one, so every system starts its cells from the same fixtures. Then the
    database is analysed, as a production database long would have been."""
    started = time.monotonic()
    models: list[str] = []
    if "create_version" in ops:
        models += [fx.version_model(c) for c in concurrencies]
    small = [op for op in SMALL_MODEL_OPS if op in ops]
    models += [fx.small_model(op) for op in small]
    wanted: dict[str, int] = {fx.small_model(op): SMALL_VERSIONS for op in small}
    if "search_versions" in ops:
        models.append(fx.big_model)
        wanted[fx.big_model] = fx.search_size
    if "search_models" in ops:
        models += [fx.like_model(i) for i in range(fx.search_size)]
    deadline = time.monotonic() + 1800
    part = CellPart()
    if models:
        pool.send(
            SeedCommand(system.label, tuple(("model", m) for m in models), fx, pool.concurrency)
        )
        part.add(pool.collect("seed", deadline))
    # Round-robin over the models, so that the workers spread over all of them.
    versions = [(model, n) for n in range(max(wanted.values(), default=0)) for model in wanted]
    tasks = tuple(("version", model) for model, n in versions if n < wanted[model])
    if tasks:
        pool.send(SeedCommand(system.label, tasks, fx, pool.concurrency))
        part.add(pool.collect("seed", deadline))
    topped_up = 0
    for model, count in wanted.items():
        have = len(system.api.all_versions(model))
        for n in range(have, count):
            system.api.create_version(model, fx.source(-2, n))
            topped_up += 1
    for op in ("set_alias", "get_by_alias", "resolve"):
        if op in ops:
            system.api.set_alias(fx.small_model(op), ALIAS, SMALL_VERSIONS)
    analyzing = time.monotonic()
    analyze_database(system.database_url)
    analyzed_in = time.monotonic() - analyzing
    rows: dict[str, int] = {}
    if "search_versions" in ops:
        rows["search_versions"] = system.api.search_versions(fx.versions_filter)
    if "search_models" in ops:
        rows["search_models"] = system.api.search_models(fx.models_filter)
    return SeedReport(
        system=system.label,
        seconds=time.monotonic() - started,
        created=part.acknowledged,
        errors=part.errors,
        error_messages=part.messages.most_common(5),
        topped_up=topped_up,
        analyze_seconds=analyzed_in,
        search_rows=rows,
    )


def check_versions(
    system: System, fx: Fixtures, concurrency: int, acknowledged: int
) -> dict[str, Any]:
    """Every acknowledged create got its own number, and the numbers are 1..N."""
    numbers = sorted(v for v, _ in system.api.all_versions(fx.version_model(concurrency)))
    gapless = numbers == list(range(1, len(numbers) + 1))
    return {
        "check": "create_version",
        "system": system.label,
        "concurrency": concurrency,
        "gapless": gapless,
        "versions": len(numbers),
        "distinct": len(set(numbers)),
        "max_version": numbers[-1] if numbers else 0,
        "acknowledged": acknowledged,
        "ok": gapless and len(numbers) == acknowledged,
    }


def check_production(system: System, fx: Fixtures, concurrency: int) -> dict[str, Any]:
    """After promotions with archive_existing_versions, exactly one version is in
    Production: the last one promoted (none would mean a promotion archived the holder
    and did not move its own version)."""
    stages = Counter(stage for _, stage in system.api.all_versions(fx.small_model("transition")))
    in_production = stages.get("Production", 0)
    return {
        "check": "transition",
        "system": system.label,
        "concurrency": concurrency,
        "in_production": in_production,
        "stages": dict(stages),
        "ok": in_production == 1,
    }


def check_after(system: System, fx: Fixtures, cell: CellResult) -> dict[str, Any] | None:
    """The correctness check that follows a cell, if its operation has one. A check that
    could not be made (the server is gone) has failed, but the run goes on to report
    what it measured."""
    try:
        if cell.op == "create_version":
            return check_versions(system, fx, cell.concurrency, cell.acknowledged)
        if cell.op == "transition":
            return check_production(system, fx, cell.concurrency)
    except Exception as exc:
        return {
            "check": cell.op,
            "system": system.label,
            "concurrency": cell.concurrency,
            "ok": False,
            "error": describe_error(exc),
        }
    return None
