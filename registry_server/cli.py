"""`registry-server`: run the server and manage its database schema."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from registry_server import config as cfg

EPILOG = """\
Examples:
  # embedded: SQLite under ./registry-data, listening on 127.0.0.1:50051
  registry-server serve
  registry-server serve --listen 0.0.0.0:50051 \
      --database-url postgresql+psycopg2://registry@db/registry
  registry-server db upgrade --database-url postgresql+psycopg2://registry@db/registry
  registry-server db current

  registry-server serve --artifact-store 's3://models/registry?endpoint=minio:9000&secure=false'
  registry-server gc --dry-run

Environment: REGISTRY_DATABASE_URL, REGISTRY_ARTIFACT_STORE, REGISTRY_LISTEN,
REGISTRY_WORKERS; S3 credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
"""


def _add_database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the metadata database, e.g. postgresql+psycopg2://user@host/db "
        "(env REGISTRY_DATABASE_URL; default: SQLite file registry-data/registry.db)",
    )


def _add_artifact_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifact-store",
        help="where registry-held model files live: s3://bucket[/prefix]?endpoint=host:port"
        "&secure=false (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or a folder "
        "(env REGISTRY_ARTIFACT_STORE; default: registry-data/artifacts)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="registry-server",
        description="The model registry gRPC server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the gRPC server. SQLite databases are migrated on start; a "
        "PostgreSQL schema must be upgraded first with `registry-server db upgrade`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_database_flag(serve)
    _add_artifact_flag(serve)
    serve.add_argument(
        "--listen",
        help=f"host:port to listen on (env REGISTRY_LISTEN; default {cfg.DEFAULT_LISTEN})",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help=f"worker threads handling calls (env REGISTRY_WORKERS; default {cfg.DEFAULT_WORKERS})",
    )

    gc = commands.add_parser(
        "gc",
        help="delete stored files no version owns",
        description="Delete objects in the artifact store that no model version owns "
        "(left by crashed uploads or by deletes while the store was down) and list them.",
    )
    _add_database_flag(gc)
    _add_artifact_flag(gc)
    gc.add_argument("--dry-run", action="store_true", help="only list what would be deleted")

    db = commands.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply migrations up to the newest schema")
    _add_database_flag(upgrade)
    current = db_commands.add_parser("current", help="print the schema revision")
    _add_database_flag(current)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.command == "serve":
        return _serve(args)
    if args.command == "gc":
        return _gc(args)
    return _db(args)


def _gc(args: argparse.Namespace) -> int:
    from registry_server.artifacts import factory
    from registry_server.domain.artifacts import ArtifactService
    from registry_server.domain.registry import Registry
    from registry_server.server import prepare_database

    config = cfg.ServerConfig.from_env(args.database_url, artifact_store=args.artifact_store)
    database = prepare_database(config.database_url, pool_size=1)
    try:
        store = factory.from_url(config.artifact_store)
        service = ArtifactService(database, store, Registry(database, store))
        removed = service.collect_garbage(dry_run=args.dry_run)
    finally:
        database.dispose()
    verb = "would remove" if args.dry_run else "removed"
    for key in removed:
        print(f"{verb} {key}")
    print(f"{verb} {len(removed)} orphaned object(s) from {store.describe()}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from registry_server import migrate, server

    config = cfg.ServerConfig.from_env(
        args.database_url, args.listen, args.workers, args.artifact_store
    )
    try:
        server.serve_forever(config)
    except migrate.SchemaBehind as exc:
        print(f"registry-server: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"registry-server: {exc}", file=sys.stderr)
        return 1
    return 0


def _db(args: argparse.Namespace) -> int:
    from registry_server import migrate
    from registry_server.store.database import make_engine

    url = cfg.ServerConfig.from_env(args.database_url).database_url
    engine = make_engine(url, pool_size=1)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(engine)
            print(f"database at revision {migrate.current_revision(engine)}")
        else:
            current = migrate.current_revision(engine)
            head = migrate.head_revision()
            state = "up to date" if current == head else f"behind (newest is {head})"
            print(f"{current or 'empty'} {state}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
