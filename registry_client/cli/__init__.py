"""``registry``: the model registry from the command line.

Built on ``RegistryClient`` alone, so the CLI exercises exactly the API that
Python users get and cannot grow behaviour of its own.

Exit codes are part of the interface for shell scripts: 0 success, 1 the
registry refused or failed the call (the reason goes to stderr as
``error: CODE: message``), 2 bad command line. stdout carries only the result
(one JSON document with ``--output json``); hints for people, such as the next
page's token, and progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from registry_client._client import RegistryClient
from registry_client._errors import RegistryError, Unavailable
from registry_client.cli import (
    access,
    aliases,
    artifacts,
    history,
    imports,
    lineage,
    models,
    search,
    versions,
    watch,
    webhooks,
)
from registry_client.cli._format import dumps, printable
from registry_client.cli._parsing import Handler, Result, epilog, positive_float
from registry_client.tls import TlsArgumentError

__all__ = ["RPC_COMMANDS", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: RPC name -> CLI command (with the option selecting the RPC, if any). Lets a
#: test check that every RPC of the service is reachable from the command line.
RPC_COMMANDS: dict[str, str] = {
    "CreateRegisteredModel": "models create",
    "GetRegisteredModel": "models get",
    "UpdateRegisteredModel": "models update",
    "RenameRegisteredModel": "models rename",
    "DeleteRegisteredModel": "models delete",
    "SetRegisteredModelTag": "models set-tag",
    "DeleteRegisteredModelTag": "models delete-tag",
    "GetLatestVersions": "models latest",
    "CreateModelVersion": "versions create",
    "GetModelVersion": "versions get",
    "UpdateModelVersion": "versions update",
    "DeleteModelVersion": "versions delete",
    "TransitionModelVersionStage": "versions transition",
    "SetModelVersionTag": "versions set-tag",
    "DeleteModelVersionTag": "versions delete-tag",
    "SetRegisteredModelAlias": "aliases set",
    "DeleteRegisteredModelAlias": "aliases delete",
    "GetModelVersionByAlias": "aliases get",
    "ResolveModelUri": "resolve",
    "SearchRegisteredModels": "search models",
    "SearchModelVersions": "search versions",
    "FindModelVersionsByRun": "lineage by-run",
    "FindModelVersionsByDataset": "lineage by-dataset",
    "GetModelVersionLineage": "lineage show",
    "ListModelEvents": "history",
    "GetModelStateAsOf": "history --as-of",
    "WatchModelEvents": "watch",
    "UploadArtifact": "artifacts upload",
    "FinalizeModelVersion": "versions finalize",
    "AbortModelVersion": "versions abort",
    "ListArtifacts": "artifacts list",
    "DownloadArtifact": "download",
    "GetArtifactDownloadUrls": "artifacts urls",
    "SetModelProtection": "access protect",
    "SetModelGrant": "access grant",
    "DeleteModelGrant": "access ungrant",
    "ListModelGrants": "access grants",
    "CreateAccessToken": "tokens create",
    "ListAccessTokens": "tokens list",
    "RevokeAccessToken": "tokens revoke",
    "WhoAmI": "whoami",
    "ImportRegisteredModel": "import mlflow",
    "ImportModelVersion": "import mlflow",
    "ImportRegisteredModelAlias": "import mlflow",
    "CreateWebhook": "webhooks create",
    "ListWebhooks": "webhooks list",
    "UpdateWebhook": "webhooks update",
    "DeleteWebhook": "webhooks delete",
    "ListWebhookDeliveries": "webhooks deliveries",
    "TestWebhook": "webhooks test",
}


# -- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full ``registry`` argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="registry",
        description="Command line client for the model registry.",
        epilog=epilog(
            "registry models create fraud-detector",
            "registry versions create fraud-detector --source s3://models/fraud/42",
            "registry aliases set fraud-detector champion 1",
            "registry resolve models:/fraud-detector@champion",
            "registry --output json history fraud-detector",
            "registry versions create fraud-detector --artifacts ./model-out",
            "registry download models:/fraud-detector@champion ./model",
            "registry search versions --filter \"alias = 'champion' AND tags.team = 'risk'\"",
            "registry lineage show fraud-detector 3",
            'registry history fraud-detector --as-of "2026-03-01 10:00"',
        )
        + "\n\nExit status: 0 success, 1 the call failed, 2 bad command line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="registry server (default: $REGISTRY_TARGET, else 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="table for people (default) or one JSON document for scripts",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="time limit per command, retries included; with no server to reach, a command "
        "waits for one that long (default: 10)",
    )
    parser.add_argument(
        "--actor", help="who to record in the history (default: $REGISTRY_ACTOR, else your user)"
    )
    parser.add_argument(
        "--token",
        help="bearer token sent with every call (default: $REGISTRY_TOKEN; prefer the variable:\n"
        "command lines are visible to other users of the machine)",
    )
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="connect with TLS, or plaintext with --no-tls (default: $REGISTRY_TLS; "
        "any --tls-* option implies --tls; else plaintext)",
    )
    parser.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="CA certificate(s) to verify the server with; implies --tls "
        "(default: $REGISTRY_TLS_CA, else the system's trusted roots)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="client certificate for servers that require one (mutual TLS); needs --tls-key "
        "(default: $REGISTRY_TLS_CLIENT_CERT)",
    )
    parser.add_argument(
        "--tls-key",
        metavar="PEM",
        help="the client certificate's unencrypted private key (default: $REGISTRY_TLS_CLIENT_KEY)",
    )
    parser.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="name the server's certificate must carry when --target does not use it, "
        "e.g. an IP address (default: $REGISTRY_TLS_SERVER_NAME)",
    )
    # Without a command, `registry` lists the commands (see main).
    parser.set_defaults(usage_parser=parser)
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    # In the order of the help's command list.
    models.add(sub)
    versions.add(sub)
    aliases.add(sub)
    artifacts.add(sub)
    access.add_whoami(sub)
    search.add_resolve(sub)
    artifacts.add_download(sub)
    search.add(sub)
    lineage.add(sub)
    history.add(sub)
    watch.add(sub)
    access.add(sub)
    access.add_tokens(sub)
    imports.add(sub)
    webhooks.add(sub)
    return parser


# -- entry point ---------------------------------------------------------------------


def _exit_status(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_USAGE


# What gRPC says when no connection could be made at all (refused, no such
# host); an UNAVAILABLE from a server that answered (its database is down)
# names the cause itself and gets no hint.
_NO_CONNECTION = ("failed to connect", "errors resolving", "DNS resolution failed")


def _unreachable(exc: Exception) -> bool:
    return isinstance(exc, Unavailable) and any(m in exc.message for m in _NO_CONNECTION)


def _unreachable_hint(target: str, flag: str | None, message: str = "") -> str:
    """What to do when nothing answers: usually in the first minutes, before a
    server runs or before the CLI was told where it is. When something did
    answer but the connection failed on TLS (a handshake refused, or closed
    by a TLS server at a plaintext hello), the hint is about TLS instead:
    telling the user to start a server would send them the wrong way."""
    if "handshake" in message.lower():
        return (
            f"hint: the TLS handshake with {target} failed (see above). Give the CA that "
            "signed its certificate with --tls-ca (or $REGISTRY_TLS_CA), the name on it with "
            "--tls-server-name, and a client certificate with --tls-cert/--tls-key if it "
            "requires one."
        )
    if "socket closed" in message.lower():
        return (
            f"hint: something listens at {target} but closed the connection: if it is a "
            "registry server with TLS, connect with --tls (and --tls-ca if its certificate "
            "is not signed by a CA this machine trusts)."
        )
    if flag:
        where = "from --target"
    elif os.environ.get("REGISTRY_TARGET"):
        where = "from $REGISTRY_TARGET"
    else:
        where = "the default; no --target or $REGISTRY_TARGET given"
    return (
        f"hint: no registry server answered at {target} ({where}).\n"
        "  Start one on this machine:   registry-server serve\n"
        "  Or use a running one:        registry --target HOST:PORT ...  "
        "(or export REGISTRY_TARGET=HOST:PORT)"
    )


def _say_waiting(target: str, seconds: float) -> None:
    """A command that reaches no server waits for one, up to --timeout (a CI
    job may call a server it has just started): said on stderr, so the
    silence does not pass for a hang."""
    print(
        f"waiting up to {seconds:.0f} s more for a registry server at {target} (--timeout) ...",
        file=sys.stderr,
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit status instead of exiting (testable)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            # `registry` or `registry versions` alone: list what can follow.
            # Still a usage error (exit 2, on stderr): a script that lost
            # its command must not pass for a success.
            print(args.usage_parser.format_help(), end="", file=sys.stderr)
            return EXIT_USAGE
        problem = args.check(args) if args.check is not None else None
        if problem is not None:
            args.command_parser.error(problem)  # prints usage and exits 2
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return _exit_status(exc.code)
    try:
        client = RegistryClient(
            args.target,
            timeout=args.timeout,
            actor=args.actor,
            token=args.token,
            tls=args.tls,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_server_name=args.tls_server_name,
            on_connection_wait=_say_waiting,
        )
    except TlsArgumentError as exc:  # name the flag, not the Python argument
        print(f"error: {exc.naming(as_flags=True)}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with client:
            result: Result = handler(client, args)
    except (RegistryError, OSError, ValueError) as exc:
        # OSError/ValueError: local files (a missing folder, a full disk,
        # a file that cannot be uploaded), reported like a refused call.
        print(f"error: {printable(str(exc), keep_newlines=True)}", file=sys.stderr)
        if _unreachable(exc):
            hint = _unreachable_hint(client.target, args.target, str(exc))
            print(hint, file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    if result.streamed:
        return EXIT_FAILED if result.failed else EXIT_OK
    try:
        if args.output == "json":
            print(dumps(result.data), flush=True)
        else:
            # Values were escaped where they were laid out; this catches what
            # a command printed without the helpers (see _format.printable).
            print(printable(result.text, keep_newlines=True), flush=True)
            if result.note:
                print(printable(result.note, keep_newlines=True), file=sys.stderr)
    except BrokenPipeError:
        # The reader stopped early (`registry history | head`): not worth a
        # traceback. Point stdout at /dev/null so that the interpreter's final
        # flush does not fail again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_FAILED if result.failed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
