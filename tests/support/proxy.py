"""A TCP proxy on a loopback port whose network can be made to stall.

Sits between the server and a dependency (PostgreSQL, S3) and can be switched
while connections are open:

- ``pass_through()``: bytes flow both ways.
- ``latency(ms)``: every chunk waits ``ms`` milliseconds before it is forwarded.
- ``reset()``: every open connection is closed with a RST, and new ones are
  accepted and reset at once (a peer that restarted, a firewall rejecting).
- ``blackhole()``: connections are accepted and kept open, nothing is
  forwarded either way (packets dropped, no FIN, no RST). What was held back
  flows again after ``pass_through()``, as TCP would retransmit it once a
  partition heals.

Usage::

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql://...@127.0.0.1:{proxy.port}/db"
        proxy.blackhole()
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType

_PASS = "pass"
_LATENCY = "latency"
_RESET = "reset"
_BLACKHOLE = "blackhole"
_CHUNK = 64 * 1024


def _abort(sock: socket.socket) -> None:
    """Close with a RST (SO_LINGER 0), not a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._mode = _PASS
        self._delay = 0.0
        self._changed = threading.Condition()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        #: Connections accepted so far (tests check the dependency went through us).
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    # --- switching -------------------------------------------------------
    def _set(self, mode: str, delay: float = 0.0) -> None:
        with self._changed:
            self._mode = mode
            self._delay = delay
            self._changed.notify_all()

    def pass_through(self) -> None:
        self._set(_PASS)

    def latency(self, ms: float) -> None:
        self._set(_LATENCY, ms / 1000.0)

    def blackhole(self) -> None:
        self._set(_BLACKHOLE)

    def reset(self) -> None:
        """Reset every open connection; new ones are reset until the mode changes."""
        self._set(_RESET)
        with self._changed:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            _abort(sock)

    @property
    def mode(self) -> str:
        return self._mode

    # --- plumbing --------------------------------------------------------
    def _track(self, *socks: socket.socket) -> None:
        with self._changed:
            self._sockets.update(socks)

    def _forget(self, *socks: socket.socket) -> None:
        with self._changed:
            self._sockets.difference_update(socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self._mode == _RESET:
                _abort(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _wait_while_blackholed(self) -> bool:
        """Block while black-holed; False once the proxy is closed or reset."""
        with self._changed:
            while self._mode == _BLACKHOLE and not self._closed:
                self._changed.wait(0.5)
            return not self._closed and self._mode != _RESET

    def _connect(self, client: socket.socket) -> None:
        # A black hole swallows the connection attempt too: the client's
        # TCP handshake with us succeeded, the dependency's never starts.
        if not self._wait_while_blackholed():
            _abort(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _abort(client)
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(client, upstream)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self._pump(upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                # Not reading while black-holed lets the kernel buffers fill:
                # the sender sees its data accepted and no answer, ever.
                if not self._wait_while_blackholed():
                    break
                data = source.recv(_CHUNK)
                if not data:
                    break
                if not self._wait_while_blackholed():
                    break
                delay = self._delay if self._mode == _LATENCY else 0.0
                if delay:
                    time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if self._mode == _RESET:
                _abort(source)
                _abort(sink)
            self._forget(source, sink)

    def close(self) -> None:
        self._closed = True
        with self._changed:
            self._changed.notify_all()
            sockets = list(self._sockets)
            self._sockets.clear()
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in sockets:
            _abort(sock)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
