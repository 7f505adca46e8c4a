"""`registry-server`: run the server and manage its database schema."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from registry_server import config as cfg
from registry_server import logs

log = logging.getLogger(__name__)

EPILOG = """\
Examples:
  # embedded: SQLite under ./registry-data, listening on 127.0.0.1:50051
  registry-server serve
  registry-server serve --listen 0.0.0.0:50051 --require-auth \\
      --database-url postgresql+psycopg2://registry@db/registry
  registry-server tokens create admin --role admin   # prints the secret once
  registry-server db upgrade --database-url postgresql+psycopg2://registry@db/registry
  registry-server db current

  registry-server serve --artifact-store 's3://models/registry?endpoint=minio:9000&secure=false'
  registry-server gc --dry-run      # abandoned pending versions (idle 24h+), orphaned files
  registry-server verify --output json   # every READY version's files against its manifest

  # TLS; with --tls-client-ca, clients must present a certificate signed by that CA
  registry-server serve --listen 0.0.0.0:50051 --require-auth --tls-cert cert.pem --tls-key key.pem
  registry-server serve --tls-cert cert.pem --tls-key key.pem --tls-client-ca clients-ca.pem
  # (certificate files are reloaded when they change: rotate them in place)

  # one JSON object per log line; OpenTelemetry traces with OTEL_TRACES_EXPORTER=otlp
  registry-server serve --log-format json
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
        epilog=f"{EPILOG}\nEnvironment: see `registry-server serve --help`, docs/operations.md.\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the gRPC server. SQLite databases are migrated on start; a "
        "PostgreSQL schema must be upgraded first with `registry-server db upgrade`.",
        epilog=EPILOG + "\n" + cfg.environment_help(),
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
        help="threads for writes, uploads, downloads and every other call that is not a read "
        f"(env REGISTRY_WORKERS; default {cfg.DEFAULT_WORKERS}); also the size of each "
        "database pool",
    )
    serve.add_argument(
        "--read-threads",
        type=int,
        metavar="N",
        help="threads for reads: gets, resolves, searches, listings (env "
        f"REGISTRY_READ_THREADS; default {cfg.DEFAULT_READ_THREADS}). One process runs "
        "Python on one core at a time, so a few threads kept busy answer more reads than "
        "many threads woken for each call",
    )
    serve.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="serve TLS with this certificate chain, leaf first (env REGISTRY_TLS_CERT; "
        "needs --tls-key; default: plaintext)",
    )
    serve.add_argument(
        "--tls-key",
        metavar="PEM",
        help="the certificate's private key, unencrypted (env REGISTRY_TLS_KEY)",
    )
    serve.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="mutual TLS: require a client certificate signed by a CA in this file "
        "(env REGISTRY_TLS_CLIENT_CA; needs --tls-cert and --tls-key)",
    )
    serve.add_argument(
        "--require-auth",
        action="store_true",
        default=None,
        help="every call needs a bearer token (env REGISTRY_REQUIRE_AUTH=true); create "
        "tokens with `registry-server tokens create`, or set REGISTRY_BOOTSTRAP_ADMIN_TOKEN "
        "to a secret of 32+ characters that becomes an admin token at start",
    )
    serve.add_argument(
        "--insecure-allow-anonymous",
        action="store_true",
        default=None,
        help="serve a non-loopback address without authentication: anyone who can reach "
        "the port is an admin (env REGISTRY_INSECURE_ALLOW_ANONYMOUS=true)",
    )
    serve.add_argument(
        "--processes",
        metavar="N",
        help="server processes sharing the port, each with --workers threads; `auto` = one "
        "per core (env REGISTRY_PROCESSES; default 1). One process runs Python on one core "
        "at a time, so on a machine with more cores, `auto` serves more calls per second. "
        "Needs a fixed port in --listen (Linux SO_REUSEPORT spreads connections)",
    )
    serve.add_argument(
        "--http-listen",
        metavar="HOST:PORT",
        help="serve /metrics (Prometheus) and /healthz over HTTP on this address (env "
        "REGISTRY_HTTP_LISTEN; default: off, and no metrics are collected). Use a loopback "
        "address (127.0.0.1:9090) unless a scraper or probe elsewhere needs it: the port "
        "has no authentication. With --processes every process serves it and /metrics "
        "sums over all of them",
    )
    serve.add_argument(
        "--allow-insecure-webhooks",
        action="store_true",
        default=None,
        help="accept http:// webhook URLs (deliveries travel unencrypted; env "
        "REGISTRY_ALLOW_INSECURE_WEBHOOKS=true)",
    )
    serve.add_argument(
        "--allow-private-webhooks",
        action="store_true",
        default=None,
        help="accept webhook URLs that resolve to loopback, link-local or private addresses "
        "(the server can then be made to POST inside its own network; env "
        "REGISTRY_ALLOW_PRIVATE_WEBHOOKS=true)",
    )
    # Internal: set by the supervisor for its children.
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=None,
        help="log one line per successful call (method, duration); failed calls and calls "
        "slower than 1 s are always logged (env REGISTRY_ACCESS_LOG=true). Costs about a "
        "tenth of the server's CPU on the fastest calls",
    )
    serve.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        help="text lines (default) or json: one JSON object per line with time, level, "
        "message and, per call, method, status, duration_ms, principal and trace_id "
        "(env REGISTRY_LOG_FORMAT)",
    )
    # Settings that do not go together are reported with this command's usage.
    serve.set_defaults(command_parser=serve)

    _add_tokens(commands)

    from registry_server import gc_cli, verify_cli

    gc_cli.add_parser(commands, _add_database_flag, _add_artifact_flag)
    verify_cli.add_parser(commands, _add_database_flag, _add_artifact_flag)

    db = commands.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply migrations up to the newest schema")
    _add_database_flag(upgrade)
    current = db_commands.add_parser("current", help="print the schema revision")
    _add_database_flag(current)
    return parser


#: Import names of the libraries only `pip install 'modelregistry[server]'` brings.
SERVER_LIBRARIES = ("sqlalchemy", "alembic", "psycopg2", "minio", "grpc_health", "grpc_reflection")


def missing_server_libraries() -> list[str]:
    """The server's libraries this install lacks (a client-only install lacks them all)."""
    return [name for name in SERVER_LIBRARIES if importlib.util.find_spec(name) is None]


def main(argv: Sequence[str] | None = None) -> int:
    missing = missing_server_libraries()
    if missing:
        # Checked before anything imports them, so a client-only install gets one
        # line that says what to do instead of a traceback.
        print(
            f"registry-server: this install has only the client (missing {', '.join(missing)}); "
            "install the server with: pip install 'modelregistry[server]'",
            file=sys.stderr,
        )
        return 2
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw_argv)
    args.raw_argv = raw_argv  # `serve --processes` starts its children with them
    log_format = (
        getattr(args, "log_format", None) or os.environ.get("REGISTRY_LOG_FORMAT") or "text"
    )
    if log_format not in logs.FORMATS:
        print(
            f"registry-server: $REGISTRY_LOG_FORMAT must be text or json, not {log_format!r}",
            file=sys.stderr,
        )
        return 2
    logs.configure(args.log_level, log_format)
    # alembic reports its plugins and DDL mode at INFO on every start of the embedded
    # store ("Context impl SQLiteImpl.", "Will assume non-transactional DDL."); the
    # migrations it applies are logged by registry_server.migrate instead.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "serve":
        return _serve(args)
    if args.command == "gc":
        from registry_server import gc_cli

        return gc_cli.run(args)
    if args.command == "verify":
        from registry_server import verify_cli

        return verify_cli.run(args)
    if args.command == "tokens":
        return _tokens(args)
    return _db(args)


def _add_tokens(commands: Any) -> None:
    tokens = commands.add_parser(
        "tokens",
        help="manage access tokens directly in the database",
        description="Create, list and revoke access tokens. This works on the database "
        "itself, so it needs no token: use it on the server host to create the first admin "
        "token (later ones can come from `registry tokens create`).",
        epilog="Examples:\n"
        "  registry-server tokens create admin --role admin\n"
        "  registry-server tokens create ci-risk --role none --expires-in-days 90\n"
        "  registry-server tokens list --all\n"
        "  registry-server tokens revoke 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="TOKENS_COMMAND")
    create = sub.add_parser("create", help="create a token and print its secret once")
    _add_database_flag(create)
    create.add_argument("principal", help="who the token authenticates as")
    create.add_argument(
        "--role", required=True, choices=("none", "reader", "writer", "admin"), help="global role"
    )
    create.add_argument("--description", default="", help="what the token is for")
    create.add_argument(
        "--expires-in-days", type=int, default=0, help="lifetime in days (default: never)"
    )
    listing = sub.add_parser("list", help="list tokens (never their secrets)")
    _add_database_flag(listing)
    listing.add_argument("--all", action="store_true", help="include revoked and expired tokens")
    revoke = sub.add_parser("revoke", help="revoke a token by its id")
    _add_database_flag(revoke)
    revoke.add_argument("token_id", type=int, help="the token's id (see `tokens list`)")


def _tokens(args: argparse.Namespace) -> int:
    from registry_server.domain.access import Role
    from registry_server.domain.errors import RegistryError
    from registry_server.domain.tokens import TokenService, principal_name
    from registry_server.server import prepare_database

    try:
        config = cfg.ServerConfig.from_env(args.database_url)
    except cfg.ConfigError as exc:
        print(f"registry-server: {exc}", file=sys.stderr)
        return 2
    database = prepare_database(config.database_url, pool_size=1)
    service = TokenService(database)
    actor = "registry-server"
    try:
        if args.tokens_command == "create":
            principal_name(args.principal)
            if args.expires_in_days < 0:
                raise cfg.ConfigError("--expires-in-days must not be negative")
            token, secret = service.create_unchecked(
                args.principal,
                Role.parse(args.role),
                args.description,
                args.expires_in_days * 86400,
                actor,
            )
            print(f"token {token.token_id} for {token.principal!r} ({token.role.label})")
            print(secret)
        elif args.tokens_command == "list":
            now_ms = time.time_ns() // 1_000_000
            for t in service.list_unchecked(args.all):
                if t.revocation_ms:
                    state = "revoked"
                elif t.expiration_ms is not None and t.expiration_ms <= now_ms:
                    state = "expired"
                else:
                    state = "active"
                print(f"{t.token_id}\t{t.principal}\t{t.role.label}\t{t.prefix}...\t{state}")
        else:
            token = service.revoke_unchecked(args.token_id, actor)
            print(f"revoked token {token.token_id} of {token.principal!r}")
    except (RegistryError, cfg.ConfigError) as exc:
        print(f"registry-server: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    return 0


def _serve(args: argparse.Namespace) -> int:
    from registry_server import migrate, server

    try:
        config = cfg.ServerConfig.from_env(
            args.database_url,
            args.listen,
            args.workers,
            args.artifact_store,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
            require_auth=args.require_auth,
            insecure_allow_anonymous=args.insecure_allow_anonymous,
            access_log=args.access_log,
            processes=args.processes,
            read_threads=args.read_threads,
        )
        config = dataclasses.replace(
            config,
            allow_insecure_webhooks=bool(args.allow_insecure_webhooks)
            or config.allow_insecure_webhooks,
            allow_private_webhooks=bool(args.allow_private_webhooks)
            or config.allow_private_webhooks,
            http_listen=args.http_listen or config.http_listen,
        )
        config.check_exposure()
    except cfg.ConfigError as exc:
        args.command_parser.error(str(exc))  # exits 2, like argparse's own errors
    if not args.reuse_port:  # a child of --processes: its supervisor said it already
        _log_embedded_paths(config)
    try:
        if config.processes > 1:
            from registry_server.supervisor import serve_processes

            return serve_processes(config, args.raw_argv)
        server.serve_forever(config, reuse_port=args.reuse_port)
    except migrate.SchemaBehind as exc:
        print(f"registry-server: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"registry-server: {exc}", file=sys.stderr)
        return 1
    return 0


def _log_embedded_paths(config: cfg.ServerConfig) -> None:
    """Say where a SQLite file and a folder store are, as absolute paths: the defaults
    are relative to the folder `serve` was started in, which is easy to lose."""
    from urllib.parse import urlparse

    from sqlalchemy.engine import make_url

    from registry_server.store.database import is_sqlite

    if not is_sqlite(config.database_url):
        return
    database = make_url(config.database_url).database or ""
    where = "in memory" if database in ("", ":memory:") else str(Path(database).resolve())
    files, store = config.artifact_store, urlparse(config.artifact_store)
    if store.scheme in ("", "file") or len(store.scheme) == 1:  # a folder (see artifacts.factory)
        files = str(Path(store.path if store.scheme == "file" else files).resolve())
    log.info("embedded SQLite database %s (migrated on start); model files in %s", where, files)


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
