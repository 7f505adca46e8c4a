"""`registry-server verify`: its parser, handler and output together (the
checking itself is registry_server/domain/verify.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from registry_server import config as cfg
from registry_server.domain.verify import DEFAULT_WORKERS, MAX_WORKERS

EXAMPLES = """\
Examples:
  registry-server verify                          # every READY version, 4 files at a time
  registry-server verify --model fraud-detector --model churn
  registry-server verify --since 2026-01-31T00:00:00Z --workers 16
  registry-server verify --since 1767225600000 --output json > verify.json
  registry-server verify --database-url postgresql+psycopg2://registry@db/registry \\
      --artifact-store 's3://models/registry?endpoint=minio:9000&secure=false'

Exit status: 0 when every file is as its manifest says and nothing unexpected
is stored, 1 when something is missing, changed, unreadable or unexpected, 2 on
a usage error (a bad flag, a model that does not exist, a bad setting).
"""


def parse_since(text: str) -> int:
    """Epoch milliseconds from ISO 8601 (no zone: UTC) or from epoch milliseconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z) "
            "nor epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_WORKERS}")
    return value


def add_parser(commands: Any, database_flag: Any, artifact_flag: Any) -> None:
    verify = commands.add_parser(
        "verify",
        help="check the stored files of READY versions against their manifests",
        description="Re-read every file of every READY registry-held version from the "
        "artifact store, hash it and compare size and sha256 with the version's manifest. "
        "Reports files that are missing or changed, and objects no version owns "
        "(unexpected: what `registry-server gc` would delete). Objects of pending "
        "versions' uploads are not reported. Files are streamed, never held whole.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    database_flag(verify)
    artifact_flag(verify)
    verify.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this model's versions and objects (repeat for several)",
    )
    verify.add_argument(
        "--since",
        type=parse_since,
        metavar="TIME",
        help="check only versions created at or after TIME: ISO 8601 (UTC when no zone is "
        "given) or epoch milliseconds; unexpected objects are then looked for only in "
        "those versions' folders",
    )
    verify.add_argument(
        "--workers",
        type=_workers,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"files read at the same time (default {DEFAULT_WORKERS}, at most {MAX_WORKERS}); "
        "each is streamed in 1 MiB chunks, so memory is about N MiB",
    )
    verify.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text (default) or json: one object with ok, store, checked, missing, changed, "
        "unreadable, unexpected",
    )
    verify.set_defaults(command_parser=verify)


def run(args: argparse.Namespace) -> int:
    from registry_server import migrate
    from registry_server.artifacts import factory
    from registry_server.domain.errors import NotFound, Unavailable
    from registry_server.domain.verify import Verifier
    from registry_server.server import prepare_database

    try:
        config = cfg.ServerConfig.from_env(args.database_url, artifact_store=args.artifact_store)
        store = factory.from_url(config.artifact_store)
    except (cfg.ConfigError, ValueError) as exc:
        print(f"registry-server verify: {exc}", file=sys.stderr)
        return 2
    try:
        database = prepare_database(config.database_url, pool_size=2)
    except migrate.SchemaBehind as exc:
        print(f"registry-server verify: {exc}", file=sys.stderr)
        return 1
    try:
        report = Verifier(database, store).verify(
            models=args.model, since_ms=args.since, workers=args.workers
        )
    except NotFound as exc:
        print(f"registry-server verify: {exc}", file=sys.stderr)
        return 2
    except Unavailable as exc:
        print(f"registry-server verify: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    if args.output == "json":
        json.dump(report.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_text(report)
    return 0 if report.ok else 1


def _print_text(report: Any) -> None:
    for f in report.missing:
        print(f"missing     models:/{f.model}/{f.version} {f.path} ({f.key})")
    for f in report.changed:
        what = []
        if f.size != f.expected_size:
            what.append(f"size {f.size}, expected {f.expected_size}")
        if f.sha256 != f.expected_sha256:
            what.append(f"sha256 {f.sha256}, expected {f.expected_sha256}")
        print(f"changed     models:/{f.model}/{f.version} {f.path} ({f.key}): {'; '.join(what)}")
    for f in report.unreadable:
        print(f"unreadable  models:/{f.model}/{f.version} {f.path} ({f.key}): {f.error}")
    for key in report.unexpected:
        print(f"unexpected  {key}")
    print(
        f"checked {report.files} file(s), {report.bytes} bytes, of {report.versions} READY "
        f"version(s) in {report.store}"
    )
    if report.ok:
        print("ok: every file matches its manifest, nothing unexpected")
    else:
        print(
            f"problems: {len(report.missing)} missing, {len(report.changed)} changed, "
            f"{len(report.unreadable)} unreadable, {len(report.unexpected)} unexpected"
        )
