"""TLS certificates reloaded when their files change (registry_server/certificates.py).

The files are rotated the way Kubernetes rotates a mounted Secret: a new
folder, then one atomic swap of the `..data` link the file names point
through. Clients keep calling through both rotations (one on a connection
made before them, others on new connections): no call fails, and a new
connection sees each new certificate, first one from the same CA, then one
from a new CA that the clients' roots already carry.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from support.waiting import wait_until

from registry_client import RegistryClient
from registry_server.certificates import CertificateReloader
from registry_server.config import ServerConfig, load_tls
from registry_server.server import RunningServer, start


@dataclass
class Mount:
    """A folder laid out like a mounted Secret: tls.crt and tls.key are links
    through `..data`, which points at the current version's folder."""

    root: Path
    versions: int = 0

    def publish(self, issued: trustme.LeafCert) -> None:
        self.versions += 1
        folder = self.root / f"..v{self.versions}"
        folder.mkdir()
        (folder / "tls.crt").write_bytes(b"".join(b.bytes() for b in issued.cert_chain_pems))
        (folder / "tls.key").write_bytes(issued.private_key_pem.bytes())
        staged = self.root / "..data_tmp"
        staged.symlink_to(folder.name)
        os.replace(staged, self.root / "..data")  # the one atomic swap
        for name in ("tls.crt", "tls.key"):
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")


def _served_certificate(port: int, roots: Path) -> bytes:
    """The leaf certificate a new TLS connection gets (DER), checked against ``roots``."""
    context = ssl.create_default_context(cafile=str(roots))
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def _der(issued: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode())


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[tuple[trustme.CA, trustme.CA, Path]]:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    roots = tmp_path / "roots.pem"
    # The clients trust the new CA before the server uses it (appended to their roots).
    roots.write_bytes(old_ca.cert_pem.bytes() + new_ca.cert_pem.bytes())
    yield old_ca, new_ca, roots


@pytest.mark.slow  # loads on several threads through two rotations
def test_certificates_rotate_under_load_without_a_failed_call(
    tmp_path: Path, pki: tuple[trustme.CA, trustme.CA, Path]
) -> None:
    old_ca, new_ca, roots = pki
    mount = Mount(tmp_path / "secret")
    mount.root.mkdir()
    first = old_ca.issue_cert("localhost", "127.0.0.1")
    mount.publish(first)
    running: RunningServer = start(
        ServerConfig(
            database_url=f"sqlite:///{tmp_path / 'r.db'}",
            artifact_store=str(tmp_path / "artifacts"),
            listen="127.0.0.1:0",
            tls_cert=str(mount.root / "tls.crt"),
            tls_key=str(mount.root / "tls.key"),
        )
    )
    target = f"localhost:{running.port}"
    stop = threading.Event()
    calls = {"established": 0, "new": 0}
    failures: list[BaseException] = []
    threads: list[threading.Thread] = []

    def established() -> None:
        """One connection made before the rotations, calling throughout."""
        with RegistryClient(target, tls_ca=roots, max_attempts=1) as client:
            while not stop.is_set():
                try:
                    client.get_registered_model("rotated")
                    calls["established"] += 1
                except BaseException as exc:
                    failures.append(exc)

    def reconnecting() -> None:
        """A new connection (and handshake) for every call."""
        while not stop.is_set():
            try:
                with RegistryClient(target, tls_ca=roots, max_attempts=1) as client:
                    client.get_registered_model("rotated")
                calls["new"] += 1
            except BaseException as exc:
                failures.append(exc)

    try:
        with RegistryClient(target, tls_ca=roots) as admin:
            admin.create_registered_model("rotated")
        assert _served_certificate(running.port, roots) == _der(first)
        threads += [threading.Thread(target=established) for _ in range(2)]
        threads += [threading.Thread(target=reconnecting) for _ in range(2)]
        for thread in threads:
            thread.start()
        wait_until(lambda: min(calls.values()) >= 20, 30, what="calls before the rotation")
        for issued in (old_ca.issue_cert("localhost", "127.0.0.1"), new_ca.issue_cert("localhost")):
            before = dict(calls)
            mount.publish(issued)
            wait_until(
                lambda issued=issued: _served_certificate(running.port, roots) == _der(issued),
                10,
                what="a new connection served the new certificate",
            )
            wait_until(
                lambda before=before: all(calls[k] >= before[k] + 20 for k in calls),
                30,
                what="calls on both kinds of connection after the rotation",
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        running.stop(grace=1)
    assert failures == []


def test_a_half_written_rotation_keeps_the_old_certificate_until_the_pair_matches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = trustme.CA()
    first, second = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    stamps = iter(range(1_000_000_000, 2_000_000_000, 1_000_000))

    def rewrite(path: Path, data: bytes) -> None:
        """In place, with a modification time of its own (two writes within one
        tick of the file system's clock would otherwise share one)."""
        path.write_bytes(data)
        stamp = next(stamps)
        os.utime(path, ns=(stamp, stamp))

    rewrite(cert, first.cert_chain_pems[0].bytes())
    rewrite(key, first.private_key_pem.bytes())
    config = ServerConfig(database_url="sqlite:///unused.db", tls_cert=str(cert), tls_key=str(key))
    tls = load_tls(config)
    assert tls is not None
    reloader = CertificateReloader(config, tls)
    assert reloader() is None  # nothing changed: one stat per file, no reading
    rewrite(cert, second.cert_chain_pems[0].bytes())  # the new certificate, the old key
    assert reloader() is None
    assert "keeping the old" in caplog.text
    assert reloader() is None  # tried once per change, not on every handshake
    assert caplog.text.count("keeping the old") == 1
    rewrite(key, second.private_key_pem.bytes())  # its key arrives
    assert reloader() is not None
    assert reloader.reloads == 1
    assert reloader() is None
