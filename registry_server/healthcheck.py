"""Ask a registry server's gRPC health service whether it is serving.

    python -m registry_server.healthcheck [HOST:PORT] [--service NAME] [--timeout S]

Exit status 0 when the answer is SERVING, 1 for anything else (NOT_SERVING while
the server drains after SIGTERM, an unknown service, nothing listening, a
timeout), with the reason on stderr; 2 for a bad command line.

Why this exists: Docker and Compose health checks can only run a command inside
the container, and the image has no `grpc_health_probe` binary (nor curl, and
an HTTP probe could not speak gRPC anyway). The image already has Python, grpcio
and grpcio-health-checking, so the check is a few lines here and needs nothing
downloaded at build time. Kubernetes does not use this: it has native `grpc:`
probes that call the same health service.

Without HOST:PORT the target is $REGISTRY_LISTEN (with a wildcard host such as
0.0.0.0 replaced by 127.0.0.1), else 127.0.0.1:50051.

TLS: the options and variables of the `registry` CLI apply (--tls, --tls-ca,
--tls-cert, --tls-key, --tls-server-name; $REGISTRY_TLS, $REGISTRY_TLS_CA, ...).
On top of that, the check runs next to the server it checks, with the server's
environment: when $REGISTRY_TLS_CERT is set (the server serves TLS) it connects
with TLS, trusts that very certificate unless told another CA, and expects the
name that certificate carries unless told another name. So the image's
HEALTHCHECK, which passes no options, keeps working when TLS is switched on
through the environment. A server that requires client certificates
($REGISTRY_TLS_CLIENT_CA) needs one for the check too: $REGISTRY_TLS_CLIENT_CERT
and $REGISTRY_TLS_CLIENT_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The client's TLS handling, shared so that the check connects exactly as
# clients do (same defaults, same file checks, same messages).
from registry_client.tls import TlsArgumentError, TlsSettings, open_channel, tls_settings

DEFAULT_PORT = 50051
DEFAULT_TIMEOUT = 3.0
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]", "*"}


def default_target(listen: str | None = None) -> str:
    """Where a server started with `listen` (default: $REGISTRY_LISTEN) can be reached locally."""
    listen = listen if listen is not None else os.environ.get("REGISTRY_LISTEN", "")
    if not listen:
        return f"127.0.0.1:{DEFAULT_PORT}"
    host, sep, port = listen.rpartition(":")
    if not sep:  # a bare port
        return f"127.0.0.1:{listen}"
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    return f"{host}:{port}"


def certificate_name(path: str) -> str | None:
    """The first DNS name (else IP address, else common name) in a PEM certificate.

    gRPC always checks the server's name. When the check trusts the server's
    own certificate, that name adds nothing, but it must still be one the
    certificate carries, and 127.0.0.1 often is not. The standard library has
    no public certificate parser, so `cryptography` reads it.
    """
    try:
        certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    try:
        alt_names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        alt_names = None
    if alt_names is not None:
        for dns_name in alt_names.get_values_for_type(x509.DNSName):
            # A wildcard covers any one label; gRPC needs a concrete name.
            return "healthcheck." + dns_name[2:] if dns_name.startswith("*.") else dns_name
        for address in alt_names.get_values_for_type(x509.IPAddress):
            return str(address)
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        return value if isinstance(value, str) else value.decode()
    return None


def tls_for(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> TlsSettings | None:
    """TLS settings of the check: the client's, with the server's certificate as fallback."""
    env = os.environ if env is None else env
    tls_ca, server_name = args.tls_ca, args.tls_server_name
    server_cert = env.get("REGISTRY_TLS_CERT")
    if server_cert and args.tls is not False:
        if not tls_ca and not env.get("REGISTRY_TLS_CA"):
            tls_ca = server_cert
        if not server_name and not env.get("REGISTRY_TLS_SERVER_NAME"):
            server_name = certificate_name(server_cert)
    return tls_settings(args.tls, tls_ca, args.tls_cert, args.tls_key, server_name, env)


def check(
    target: str,
    service: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    *,
    tls: TlsSettings | None = None,
) -> tuple[bool, str]:
    """Call grpc.health.v1.Health/Check once; return (serving, what the server said)."""
    request = health_pb2.HealthCheckRequest(service=service)
    with open_channel(target, [], tls) as channel:
        # The stub's methods are set in __init__, which types-grpcio-health-checking
        # does not declare; the request and response types are checked above and below.
        stub: Any = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(request, timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            name = code.name if code is not None else "UNKNOWN"
            return False, f"{name}: {exc.details() or 'no details'}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return response.status == health_pb2.HealthCheckResponse.SERVING, status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m registry_server.healthcheck",
        description="Exit 0 when the registry server's gRPC health service says SERVING, "
        "1 otherwise (the reason goes to stderr).",
    )
    parser.add_argument(
        "target",
        nargs="?",
        help="host:port of the server (default: $REGISTRY_LISTEN with a wildcard host "
        f"replaced by 127.0.0.1, else 127.0.0.1:{DEFAULT_PORT})",
    )
    parser.add_argument(
        "--service",
        default="",
        help='service name to ask about (default "": the server as a whole; '
        'e.g. "modelregistry.v1.ModelRegistry")',
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="connect with TLS, or plaintext with --no-tls (default: TLS when $REGISTRY_TLS "
        "says so or a --tls-*/$REGISTRY_TLS_* setting or $REGISTRY_TLS_CERT is present)",
    )
    parser.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="CA certificate(s) to verify the server with (default: $REGISTRY_TLS_CA, else "
        "the server's own certificate $REGISTRY_TLS_CERT, else the system's roots)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="client certificate, for a server that requires one "
        "(default: $REGISTRY_TLS_CLIENT_CERT)",
    )
    parser.add_argument(
        "--tls-key",
        metavar="PEM",
        help="its unencrypted private key (default: $REGISTRY_TLS_CLIENT_KEY)",
    )
    parser.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="name the server's certificate must carry (default: $REGISTRY_TLS_SERVER_NAME, "
        "else the first name in $REGISTRY_TLS_CERT, else the target's host)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    target = args.target or default_target()
    try:
        tls = tls_for(args)
    except TlsArgumentError as exc:
        parser.error(exc.naming(as_flags=True))  # exits 2
    serving, status = check(target, args.service, args.timeout, tls=tls)
    if not serving:
        label = f" service {args.service!r}" if args.service else ""
        print(f"healthcheck: {target}{label}: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
