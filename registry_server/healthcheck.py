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
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

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


def check(target: str, service: str = "", timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """Call grpc.health.v1.Health/Check once; return (serving, what the server said)."""
    request = health_pb2.HealthCheckRequest(service=service)
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target = args.target or default_target()
    serving, status = check(target, args.service, args.timeout)
    if not serving:
        label = f" service {args.service!r}" if args.service else ""
        print(f"healthcheck: {target}{label}: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
