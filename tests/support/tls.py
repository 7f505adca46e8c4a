"""Throwaway certificate authorities and certificates for TLS tests, as PEM files.

Made with `trustme` in a few milliseconds, so every test session has its own
keys and nothing is committed. The server certificate is issued by an
intermediate CA, as real ones are, so its file is a chain (leaf first) and a
client has to trust only the root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    """Paths of one PKI: a server side, a client side and an unrelated CA."""

    ca: Path  # root CA of the server certificate: what clients trust
    server_cert: Path  # leaf + intermediate, for the names given to make_tls_files
    server_key: Path
    client_ca: Path  # CA that signs client certificates: the server's --tls-client-ca
    client_cert: Path
    client_key: Path
    other_ca: Path  # trusted by no one here
    other_client_cert: Path  # a client certificate issued by other_ca
    other_client_key: Path


def make_tls_files(
    folder: Path, server_names: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsFiles:
    """Write a fresh PKI into ``folder`` (created if missing) and return its paths."""
    folder.mkdir(parents=True, exist_ok=True)
    root = trustme.CA(organization_name="registry tests root")
    server = root.create_child_ca().issue_cert(*server_names)
    client_ca = trustme.CA(organization_name="registry tests clients")
    client = client_ca.issue_cert("ci-bot@registry.test")
    other_ca = trustme.CA(organization_name="registry tests elsewhere")
    other_client = other_ca.issue_cert("intruder@registry.test")

    def write(name: str, blobs: list[trustme.Blob]) -> Path:
        path = folder / name
        path.write_bytes(b"".join(blob.bytes() for blob in blobs))
        return path

    return TlsFiles(
        ca=write("ca.pem", [root.cert_pem]),
        server_cert=write("server.pem", server.cert_chain_pems),
        server_key=write("server-key.pem", [server.private_key_pem]),
        client_ca=write("client-ca.pem", [client_ca.cert_pem]),
        client_cert=write("client.pem", client.cert_chain_pems),
        client_key=write("client-key.pem", [client.private_key_pem]),
        other_ca=write("other-ca.pem", [other_ca.cert_pem]),
        other_client_cert=write("other-client.pem", other_client.cert_chain_pems),
        other_client_key=write("other-client-key.pem", [other_client.private_key_pem]),
    )
