"""Running the side port: uvicorn in a background thread of the server
process.

The socket is made here, not by uvicorn, so that with ``serve --processes N``
every process can bind the same address with SO_REUSEPORT (as the gRPC
listener does, supervisor.py): the kernel spreads scrapes and probes over
the processes, and each answers for all of them (metrics.py's multiprocess
mode) and for its own health.

uvicorn installs signal handlers only in the main thread; in this thread it
installs none, so SIGTERM stays the gRPC server's to handle.
"""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

# Seconds stop() waits for uvicorn to finish open requests and exit.
_STOP_SECONDS = 5.0


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (``[::1]:9090`` for IPv6) as (host, port); ValueError if not."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if number > 65535:
        raise ValueError(f"port out of range in {listen!r}")
    return host, number


def bind(listen: str, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on `listen` (OSError when the address is taken)."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {listen} (--http-listen): {exc}") from exc
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """One uvicorn server on one socket, in one daemon thread."""

    def __init__(self, app: ASGIApp, listen: str, *, reuse_port: bool = False) -> None:
        self.listen = listen
        self.socket = bind(listen, reuse_port=reuse_port)
        self.port: int = self.socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                lifespan="off",
                access_log=False,
                log_level="warning",
                # The side port answers probes and scrapes: small, frequent,
                # from few peers. No proxy headers are trusted.
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=int(_STOP_SECONDS),
            )
        )
        self._thread = threading.Thread(target=self._run, name="http-side-port", daemon=True)

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        except Exception:
            log.exception("the HTTP side port on %s stopped with an error", self.listen)

    def start(self) -> None:
        self._thread.start()

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def stop(self) -> None:
        """Stop accepting, finish open requests (bounded), close the socket."""
        self._server.should_exit = True
        self._thread.join(_STOP_SECONDS + 1.0)
        self.socket.close()
