"""The store URI: ``modelregistry+grpc[s]://host[:port][?option=value&...]``.

The scheme decides TLS, so the same URI means the same thing on every
machine: ``+grpc`` is plaintext even where ``REGISTRY_TLS=1`` is set for the
CLI, and ``+grpcs`` is TLS, with the CA, client certificate and server name
taken from ``REGISTRY_TLS_*`` unless the URI names them. Token and actor come
only from the environment (``REGISTRY_TOKEN``, ``REGISTRY_ACTOR``): a URI is
printed in logs and run metadata, a token must not be.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

__all__ = ["DEFAULT_PORT", "PLAINTEXT_SCHEME", "TLS_SCHEME", "StoreSettings", "parse_store_uri"]

PLAINTEXT_SCHEME = "modelregistry+grpc"
TLS_SCHEME = "modelregistry+grpcs"
#: The server's default port (``registry-server --listen``), used when the URI has none.
DEFAULT_PORT = 50051

# URI options -> RegistryClient arguments. Files and names only: what they
# reveal is already visible on the machine; secrets stay in the environment.
_TLS_OPTIONS = ("tls_ca", "tls_cert", "tls_key", "tls_server_name")
# Read by the files mixin (registry_client.mlflow.files), not by the client.
_STORE_OPTIONS = ("copy_artifacts",)
_OPTIONS = (*_TLS_OPTIONS, "timeout", *_STORE_OPTIONS)
_SECRETS = ("token", "password", "authorization")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """What a store URI asks for, as ``RegistryClient`` arguments."""

    target: str
    tls: bool
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_server_name: str | None = None
    timeout: float | None = None


def parse_store_uri(uri: str) -> StoreSettings:
    """Parse a store URI; raise ValueError naming what is wrong with it.

    ``tls_*`` options are refused on a ``+grpc`` URI: asking for a CA on a
    plaintext connection is a mistake worth reporting, not ignoring.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in (PLAINTEXT_SCHEME, TLS_SCHEME):
        raise ValueError(f"registry URI {uri!r}: scheme must be {PLAINTEXT_SCHEME} or {TLS_SCHEME}")
    if not parts.hostname:
        raise ValueError(f"registry URI {uri!r}: no host (expected {scheme}://host:port)")
    if parts.username or parts.password:
        raise ValueError(
            f"registry URI {uri!r}: credentials do not belong in the URI; set REGISTRY_TOKEN"
        )
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"registry URI {uri!r}: unexpected path {parts.path!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:  # a port that is not a number or out of range
        raise ValueError(f"registry URI {uri!r}: {exc}") from None
    host = parts.hostname
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key in _SECRETS:
            raise ValueError(
                f"registry URI {uri!r}: {key} does not belong in the URI; set REGISTRY_TOKEN"
            )
        if key not in _OPTIONS:
            raise ValueError(
                f"registry URI {uri!r}: unknown option {key!r} (known: {', '.join(_OPTIONS)})"
            )
        if key in options:
            raise ValueError(f"registry URI {uri!r}: option {key!r} given twice")
        options[key] = value
    tls = scheme == TLS_SCHEME
    if not tls and any(options.get(k) for k in _TLS_OPTIONS):
        raise ValueError(f"registry URI {uri!r}: TLS options need the {TLS_SCHEME} scheme")
    timeout: float | None = None
    if "timeout" in options:
        try:
            timeout = float(options["timeout"])
        except ValueError:
            timeout = -1.0
        if not timeout > 0:
            raise ValueError(f"registry URI {uri!r}: timeout must be a positive number of seconds")
    return StoreSettings(
        target=target,
        tls=tls,
        tls_ca=options.get("tls_ca") or None,
        tls_cert=options.get("tls_cert") or None,
        tls_key=options.get("tls_key") or None,
        tls_server_name=options.get("tls_server_name") or None,
        timeout=timeout,
    )
