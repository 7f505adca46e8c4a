"""`registry-server gc`: its parser, handler and output together (what it
does is registry_server/domain/gc.py)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from registry_server import config as cfg

#: The pending age when neither the flag nor the variable gives one.
DEFAULT_PENDING_AGE = "24h"
PENDING_AGE_ENV = "REGISTRY_GC_PENDING_AGE"

EXAMPLES = f"""\
Examples:
  registry-server gc --dry-run                    # what would go, changing nothing
  registry-server gc                              # pending versions idle for {DEFAULT_PENDING_AGE}+
  registry-server gc --pending-older-than 7d
  REGISTRY_GC_PENDING_AGE=48h registry-server gc --database-url \\
      postgresql+psycopg2://registry@db/registry \\
      --artifact-store 's3://models/registry?endpoint=minio:9000&secure=false'

Output: one line per abandoned pending version ("would mark failed" / "marked
failed") and per orphaned object ("would remove" / "removed"), then a count of
each; the last line is the count of orphaned objects. Exit status 0, or 2 on a
usage error (a bad duration or setting).
"""

_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``24h``, ``7d``, ``1.5h`` -> milliseconds (0 allowed)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"expected a duration like 24h, 90m, 7d or seconds (0 or more), got {text!r}"
        )
    return round(float(match["number"]) * _UNITS[match["unit"]] * 1000)


def _duration_argument(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pending_age_ms(flag: int | None) -> int:
    """The flag, else $REGISTRY_GC_PENDING_AGE, else the default."""
    if flag is not None:
        return flag
    value = os.environ.get(PENDING_AGE_ENV, "").strip()
    if not value:
        return parse_duration(DEFAULT_PENDING_AGE)
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise cfg.ConfigError(f"${PENDING_AGE_ENV}: {exc}") from None


def add_parser(commands: Any, database_flag: Any, artifact_flag: Any) -> None:
    gc = commands.add_parser(
        "gc",
        help="fail abandoned pending versions; delete stored files no version owns",
        description="Clean up after crashed uploads. First, versions still "
        "PENDING_REGISTRATION that have shown no sign of life (their creation, the start of "
        "their newest file upload) for at least --pending-older-than are taken as abandoned "
        "(their uploader died: a killed server or client): each is marked "
        "FAILED_REGISTRATION, with an event in its history (actor 'registry-server gc'), "
        "and its files are deleted. Its version number stays taken. A version finalized, "
        "aborted or given a new upload while gc runs is left alone. Then objects in the "
        "artifact store that no version owns (left by crashed uploads or by deletes while "
        "the store was down) are deleted. Safe to run while servers serve.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    database_flag(gc)
    artifact_flag(gc)
    gc.add_argument("--dry-run", action="store_true", help="only list what would be done")
    gc.add_argument(
        "--pending-older-than",
        type=_duration_argument,
        metavar="DURATION",
        help="how long a pending version must have shown no sign of life to count as "
        "abandoned: seconds, or a number with s, m, h or d (90m, 24h, 7d); 0 takes every "
        f"pending version (env {PENDING_AGE_ENV}; default {DEFAULT_PENDING_AGE}). It must be "
        "longer than any upload can take (the largest file on the slowest link): an upload "
        "still running after it is failed under its client",
    )
    gc.set_defaults(command_parser=gc)


def run(args: argparse.Namespace) -> int:
    from registry_server.artifacts import factory
    from registry_server.domain.gc import GarbageCollector
    from registry_server.server import prepare_database

    try:
        config = cfg.ServerConfig.from_env(args.database_url, artifact_store=args.artifact_store)
        age_ms = pending_age_ms(args.pending_older_than)
        store = factory.from_url(config.artifact_store)
    except (cfg.ConfigError, ValueError) as exc:
        print(f"registry-server gc: {exc}", file=sys.stderr)
        return 2
    database = prepare_database(config.database_url, pool_size=1)
    try:
        report = GarbageCollector(database, store).collect(
            pending_age_ms=age_ms, dry_run=args.dry_run
        )
    finally:
        database.dispose()
    _print_text(report)
    return 0


def _print_text(report: Any) -> None:
    from registry_server.domain.gc import describe_age
    from registry_server.text import escape

    mark, remove = ("would mark", "would remove") if report.dry_run else ("marked", "removed")
    for v in report.abandoned:
        print(
            f"{mark} failed models:/{escape(v.model)}/{v.version} (idle {describe_age(v.idle_ms)}, "
            f"created by {escape(v.created_by) or '?'}, {v.files} file(s))"
        )
    for v in report.spared:
        print(
            f"left alone models:/{escape(v.model)}/{v.version}: finalized, aborted, deleted or "
            "given a new upload while gc ran"
        )
    for key in report.orphans:
        print(f"{remove} {escape(key)}")
    print(
        f"{mark} {len(report.abandoned)} abandoned pending version(s) FAILED_REGISTRATION "
        f"(idle for {describe_age(report.pending_age_ms)} or more)"
    )
    print(f"{remove} {len(report.orphans)} orphaned object(s) from {report.store}")
