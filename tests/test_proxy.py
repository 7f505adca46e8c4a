"""The stalling TCP proxy of tests/support/proxy.py, against an echo server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from support.proxy import TcpProxy

# Real sockets and waits on them: the full run, not the fast lane.
pytestmark = pytest.mark.slow


@pytest.fixture
def echo_port() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the proxy may reset it
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        yield proxy


def _echo(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    sock.sendall(payload)
    return sock.recv(4096)


def _connect(proxy: TcpProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=timeout)


def test_bytes_pass_through_both_ways(proxy: TcpProxy) -> None:
    with _connect(proxy) as sock:
        assert _echo(sock) == b"ping"
    assert proxy.accepted == 1


def test_latency_delays_each_direction(proxy: TcpProxy) -> None:
    proxy.latency(100)
    with _connect(proxy) as sock:
        started = time.monotonic()
        assert _echo(sock) == b"ping"
        assert time.monotonic() - started >= 0.2


def test_reset_closes_open_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    with _connect(proxy) as sock:
        assert _echo(sock) == b"ping"
        proxy.reset()
        with pytest.raises(OSError):
            sock.sendall(b"x")
            if not sock.recv(10):
                raise ConnectionResetError("closed")
    with pytest.raises(OSError), _connect(proxy) as sock:  # reset at connect or first read
        if not _echo(sock):
            raise ConnectionResetError("closed")
    proxy.pass_through()
    with _connect(proxy) as sock:
        assert _echo(sock) == b"ping"


def test_blackhole_keeps_connections_open_and_silent_until_it_heals(proxy: TcpProxy) -> None:
    with _connect(proxy, timeout=0.5) as sock:
        assert _echo(sock) == b"ping"
        proxy.blackhole()
        sock.sendall(b"lost?")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        with _connect(proxy, timeout=0.5) as fresh:  # the handshake still succeeds
            fresh.sendall(b"new")
            with pytest.raises(TimeoutError):
                fresh.recv(10)
            proxy.pass_through()
            fresh.settimeout(2)
            assert fresh.recv(10) == b"new"
        sock.settimeout(2)
        assert sock.recv(10) == b"lost?"
