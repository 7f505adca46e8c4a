"""TLS certificates reloaded when their files change, without a restart.

Kubernetes rotates a mounted Secret by swapping a symbolic link to a new
folder (cert-manager renews certificates that way every few weeks); a server
that read its certificate once at start would serve the old one until it
expires. gRPC asks `CertificateReloader` for the configuration on every new
TLS handshake (``grpc.dynamic_ssl_server_credentials``): it stats the files
(a few microseconds, nothing read) and, when one changed, reads and checks
them again (config.load_tls: PEM, the key matches the certificate) and hands
gRPC the new configuration. Connections already established keep theirs, so
no call is dropped; new connections get the new certificate.

Files caught half-written (a new certificate next to the old key) fail the
check: the server keeps what it has, logs one warning, and tries again when a
file changes next. Whether client certificates are required (--tls-client-ca)
is fixed at start; the client CA file itself is reloaded like the others.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import grpc

from registry_server.config import ServerConfig, ServerTls, load_tls

log = logging.getLogger(__name__)

Stamp = tuple[tuple[int, int, int] | None, ...]


def _configuration(tls: ServerTls) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(tls.private_key, tls.certificate_chain)], root_certificates=tls.client_ca
    )


class CertificateReloader:
    """The certificate configuration fetcher gRPC calls per handshake."""

    def __init__(self, config: ServerConfig, tls: ServerTls) -> None:
        self.config = config
        self.paths = [p for p in (config.tls_cert, config.tls_key, config.tls_client_ca) if p]
        self._lock = threading.Lock()
        self._stamp = self._files()
        self.initial = _configuration(tls)
        #: How many times new files were taken (tests, logs).
        self.reloads = 0

    def _files(self) -> Stamp:
        """What identifies the files' current contents, without reading them:
        a symlink swap changes the inode, a rewrite the mtime or size."""
        stamps: list[tuple[int, int, int] | None] = []
        for path in self.paths:
            try:
                st = os.stat(path)
            except OSError:
                stamps.append(None)
                continue
            stamps.append((st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(stamps)

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        """None: keep the current configuration (gRPC's convention)."""
        stamp = self._files()
        if stamp == self._stamp:
            return None
        with self._lock:
            if stamp == self._stamp:
                return None
            self._stamp = stamp  # tried once per change, success or not
            try:
                tls = load_tls(self.config)
            except Exception as exc:  # never into gRPC: the old certificate stays
                log.warning("TLS files changed but cannot be used yet; keeping the old: %s", exc)
                return None
            if tls is None:
                return None
            self.reloads += 1
            log.info("TLS certificate reloaded from %s", ", ".join(self.paths))
            return _configuration(tls)


def server_credentials(config: ServerConfig, tls: ServerTls) -> grpc.ServerCredentials:
    """TLS for the listener, reloaded as its files change; with a client CA, a
    client without a certificate signed by it is refused during the handshake,
    before any call is read."""
    reloader = CertificateReloader(config, tls)
    # The type stubs leave out the None that gRPC documents as "no change".
    fetcher: Any = reloader
    return grpc.dynamic_ssl_server_credentials(
        reloader.initial,
        fetcher,
        require_client_authentication=tls.client_ca is not None,
    )
