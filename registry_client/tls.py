"""TLS settings and channels to the registry, public so that every tool that
connects (the ``registry`` CLI, the server's health check, an MLflow plugin)
opens its channel exactly as ``RegistryClient`` does: same defaults from the
environment, same file checks, same messages.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

__all__ = ["TLS_ENV", "TlsArgumentError", "TlsSettings", "open_channel", "tls_settings"]

#: Environment defaults of the TLS arguments. The client's own certificate is
#: REGISTRY_TLS_CLIENT_CERT/KEY, not REGISTRY_TLS_CERT/KEY: those are the
#: server's, and in the server's container (where the health check and an
#: operator's `registry` commands run) a client must not pick up the server's key.
TLS_ENV = {
    "tls": "REGISTRY_TLS",
    "tls_ca": "REGISTRY_TLS_CA",
    "tls_cert": "REGISTRY_TLS_CLIENT_CERT",
    "tls_key": "REGISTRY_TLS_CLIENT_KEY",
    "tls_server_name": "REGISTRY_TLS_SERVER_NAME",
}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class TlsArgumentError(ValueError):
    """A TLS argument is unusable. ``argument`` names it (``tls_ca``), ``env``
    the variable it came from, if any, and ``{partner}`` in ``problem`` another
    argument, so that the CLI can show flags (``--tls-ca``) instead."""

    def __init__(
        self, argument: str, problem: str, env: str | None = None, partner: str | None = None
    ) -> None:
        self.argument = argument
        self.problem = problem
        self.env = env
        self.partner = partner
        super().__init__(self.naming())

    def naming(self, as_flags: bool = False) -> str:
        def show(name: str) -> str:
            return "--" + name.replace("_", "-") if as_flags else name

        source = f" (from ${self.env})" if self.env else ""
        problem = self.problem.replace("{partner}", show(self.partner or ""))
        return f"{show(self.argument)}{source}: {problem}"


@dataclass(frozen=True)
class TlsSettings:
    """What a TLS channel is opened with; ``root_certificates`` None means the system's."""

    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    server_name: str | None = None


def tls_settings(
    tls: bool | None,
    tls_ca: str | os.PathLike[str] | None,
    tls_cert: str | os.PathLike[str] | None,
    tls_key: str | os.PathLike[str] | None,
    tls_server_name: str | None,
    env: Mapping[str, str],
) -> TlsSettings | None:
    """Decide plaintext (None) or TLS, fill gaps from ``env``, read the files.

    An argument beats the environment: ``tls=False`` ignores REGISTRY_TLS_*
    variables (but refuses TLS arguments, which contradict it), and a CA,
    certificate or server name passed in asks for TLS even if REGISTRY_TLS=0.
    Without any of them, REGISTRY_TLS decides, and a REGISTRY_TLS_* file or
    name alone asks for TLS as well. Files are read here so that a wrong path
    fails at construction, naming the argument, not as UNAVAILABLE on a call.
    """
    given = {
        "tls_ca": tls_ca,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "tls_server_name": tls_server_name,
    }
    explicit = [name for name, value in given.items() if value]
    if tls is False:
        if explicit:
            raise TlsArgumentError(explicit[0], "given with tls=False")
        return None
    from_env = {name: env.get(TLS_ENV[name]) or None for name, value in given.items() if not value}
    if tls is None and not explicit:
        switch = env.get(TLS_ENV["tls"], "").strip().lower()
        if switch and switch not in _TRUE | _FALSE:
            raise TlsArgumentError(
                "tls", f"expected 1/0, true/false, yes/no or on/off, got {switch!r}", "REGISTRY_TLS"
            )
        if switch in _FALSE or (switch not in _TRUE and not any(from_env.values())):
            return None
    values = {name: given[name] or from_env.get(name) for name in given}
    sources = {name: None if given[name] else TLS_ENV[name] for name in given}
    if bool(values["tls_cert"]) != bool(values["tls_key"]):
        present, missing = (
            ("tls_cert", "tls_key") if values["tls_cert"] else ("tls_key", "tls_cert")
        )
        problem = "needs {partner} as well (a client certificate and its key)"
        raise TlsArgumentError(present, problem, sources[present], missing)

    def read(name: str, label: str) -> bytes | None:
        path = values[name]
        if not path:
            return None
        return _read_pem(name, os.fspath(path), label, sources[name])

    certificate_chain = read("tls_cert", "CERTIFICATE")
    private_key = read("tls_key", "PRIVATE KEY")
    if certificate_chain is not None:
        _check_key_pair(values, sources)
    server_name = values["tls_server_name"]
    return TlsSettings(
        root_certificates=read("tls_ca", "CERTIFICATE"),
        private_key=private_key,
        certificate_chain=certificate_chain,
        server_name=str(server_name) if server_name else None,
    )


def _read_pem(argument: str, path: str, label: str, env: str | None) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        problem = f"cannot read {path!r}: {exc.strerror or exc}"
        raise TlsArgumentError(argument, problem, env) from exc
    # "-----BEGIN PRIVATE KEY-----", "... RSA PRIVATE KEY-----", "... EC PRIVATE KEY-----".
    if f"{label}-----".encode() not in data or b"-----BEGIN " not in data:
        problem = f"{path!r} holds no PEM {label.lower()} (a '-----BEGIN {label}-----' block)"
        raise TlsArgumentError(argument, problem, env)
    if label == "CERTIFICATE":
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(
                cadata=data.decode("ascii", errors="replace")
            )
        except (ssl.SSLError, ValueError) as exc:
            problem = f"{path!r} is not a valid PEM certificate"
            raise TlsArgumentError(argument, problem, env) from exc
    return data


def _check_key_pair(values: Mapping[str, Any], sources: Mapping[str, str | None]) -> None:
    """The key must belong to the certificate; a mix-up would only show as a
    handshake the server closes without saying why."""
    try:
        # An empty password makes an encrypted key fail instead of prompting.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(
            os.fspath(values["tls_cert"]), os.fspath(values["tls_key"]), password=b""
        )
    except ssl.SSLError as exc:
        key = repr(os.fspath(values["tls_key"]))
        if "KEY_VALUES_MISMATCH" in str(exc):
            problem = f"{key} is not the private key of the certificate in {{partner}}"
        else:
            problem = f"{key} is not an unencrypted PEM private key (gRPC needs one)"
        raise TlsArgumentError("tls_key", problem, sources["tls_key"], "tls_cert") from exc


def open_channel(
    target: str, options: Sequence[tuple[str, Any]], tls: TlsSettings | None = None
) -> grpc.Channel:
    """Open the channel to the registry: plaintext, or TLS when ``tls`` is given.

    The bearer token is deliberately not attached here as call credentials:
    gRPC refuses those on plaintext channels, and plaintext on loopback is the
    embedded default. ``_call`` sends it as ordinary metadata instead, which
    works over both kinds of channel (and is encrypted on a TLS one).
    """
    if tls is None:
        return grpc.insecure_channel(target, options=list(options))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.root_certificates,
        private_key=tls.private_key,
        certificate_chain=tls.certificate_chain,
    )
    if tls.server_name:
        # Verify the certificate against this name instead of the target's host
        # (a connection through an IP address, a tunnel or a port-forward).
        options = [*options, ("grpc.ssl_target_name_override", tls.server_name)]
    return grpc.secure_channel(target, credentials, options=list(options))
