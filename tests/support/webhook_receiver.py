"""A real HTTP server that receives webhook deliveries, for tests and bench/webhooks.py.

It checks every request's signature with the secret it is given (a request
whose signature does not verify is answered 401 and recorded as such), keeps
what arrived, and answers as told: `refuse_first` answers 500 to the first
attempt of each delivery id; `hang_first` holds the very first request until
`release()` (a receiver that stalls while its sender is killed), `hang_all`
every request.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def verify(secret: str, header: str, body: bytes) -> bool:
    """Whether `header` (X-Registry-Signature) signs `body` with `secret`."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    expected = hmac.new(
        secret.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class Received:
    delivery_id: int
    kind: str
    headers: dict[str, str]
    body: dict[str, Any]
    signed: bool
    answered: int
    arrived_ms: int  # wall clock, as the registry's timestamps


class Receiver:
    def __init__(
        self,
        secret: str = "",
        *,
        refuse_first: bool = False,
        hang_first: bool = False,
        hang_all: bool = False,
        tls: ssl.SSLContext | None = None,
    ):
        self.secret = secret
        self.refuse_first = refuse_first
        self.hang_first = hang_first
        self.hang_all = hang_all
        self.received: list[Received] = []
        self.hanging = threading.Event()  # set once the first request is being held
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code = receiver._answer(dict(self.headers.items()), body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}/hooks/registry"

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        signed = verify(self.secret, headers.get("X-Registry-Signature", ""), body)
        delivery_id = int(headers.get("X-Registry-Delivery", "0"))
        with self._lock:
            first_ever = not self.received
            first_of_id = all(r.delivery_id != delivery_id for r in self.received)
            code = 200 if signed else 401
            if self.refuse_first and first_of_id:
                code = 500
            hang = (self.hang_first and first_ever) or self.hang_all
            self.received.append(
                Received(
                    delivery_id,
                    headers.get("X-Registry-Event", ""),
                    headers,
                    json.loads(body),
                    signed,
                    0 if hang else code,
                    time.time_ns() // 1_000_000,
                )
            )
        if hang:
            self.hanging.set()
            self._release.wait(60)
            code = 503
        return code

    def release(self) -> None:
        self._release.set()

    def delivered(self) -> list[Received]:
        """What was answered 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)


@contextmanager
def receiver(secret: str = "", **behaviour: Any) -> Iterator[Receiver]:
    made = Receiver(secret, **behaviour)
    # shutdown() waits for serve_forever to notice, which it checks once per poll_interval
    # (0.5 s by default): every receiver closed would cost up to half a second.
    thread = threading.Thread(
        target=made.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield made
    finally:
        made.release()
        made.server.shutdown()
        made.server.server_close()
