"""The webhook sender: one per server process, on every replica.

Delivery rows are queued by a trigger in the event's own transaction
(migration 0009), so what this sends is exactly what committed. The loop:

1. wait until woken (a write committed in this process, a ping was queued, a
   send finished) or `poll_interval` passed (events committed on other
   replicas);
2. ask whether anything is due (one index probe on a read connection: an
   idle server costs two of these a second);
3. if so, claim up to PREFETCH deliveries per worker (less those still held)
   in one short write transaction (store/webhooks.py: FOR UPDATE SKIP LOCKED on
   PostgreSQL), each leased for `(PREFETCH + 1) * timeout + 2` seconds;
4. hand them to a small pool of worker threads, at most PER_WEBHOOK of them
   on one webhook at a time, so a slow receiver holds two workers for at most
   its timeout each and never the other webhooks' deliveries (a few per
   worker are claimed ahead, so one claim serves many sends);
5. record the outcomes the workers left, all in one statement.

Each attempt resolves the host again, refuses it if it now points where
webhooks may not go (domain/webhooks.py), and connects to the address it
checked (the Host header and, for https, SNI and certificate verification
still use the URL's host name): nothing can re-resolve the name between the
check and the connection. Redirects are not followed (a 3xx is a failure).

A 2xx answer ends the delivery. Anything else is retried after
`FIRST_RETRY * 2**(attempts-1)` seconds (capped at `MAX_DELAY`), with +-25 %
jitter so that the retries of many deliveries spread out; once the next try
would fall more than `GIVE_UP` after the delivery was queued, it is marked
failed. A replica killed mid-delivery leaves its claims to lapse; another
replica (or this one restarted) sends them again, with the same delivery id:
deliveries are at least once, and exactly once when nothing crashes.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import http.client
import json
import logging
import queue
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError

from registry_server import metrics
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.errors import InvalidArgument, Unavailable
from registry_server.domain.events import bounded_payload
from registry_server.domain.webhooks import (
    AddressRefused,
    Resolver,
    SecretBox,
    Target,
    WebhookPolicy,
    parse_url,
    resolve,
)
from registry_server.store import webhooks as store
from registry_server.store.database import Database

log = logging.getLogger(__name__)

FIRST_RETRY = 3.0  # seconds
MAX_DELAY = 3600.0
GIVE_UP = 24 * 3600.0
MAX_ERROR = 500
USER_AGENT = "modelregistry-webhooks/1"
PREFETCH = 4
PER_WEBHOOK = 2

# Threads of the sender: their own commits must not wake it.
_quiet = threading.local()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Registry-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def payload(claimed: store.Claimed) -> bytes:
    """The POST body: the event as JSON (a ping carries no event)."""
    found = claimed.event or {}
    body = {
        "delivery_id": claimed.id,
        "webhook_id": claimed.webhook_id,
        "event_id": found.get("event_id", 0),
        "timestamp": found.get("timestamp", claimed.created_ms),
        "actor": found.get("actor", ""),
        "kind": claimed.kind,
        "model_name": found.get("model_name", ""),
        "version": found.get("version"),
        "before": bounded_payload(found.get("before", {})),
        "after": bounded_payload(found.get("after", {})),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


#: A delivery's status after an attempt -> its outcome in the metrics.
_OUTCOMES = {store.DELIVERED: "delivered", store.PENDING: "retry", store.FAILED: "failed"}


def retry_delay(attempts: int, jitter: float) -> float:
    """Seconds before the next try after `attempts` failed ones; `jitter` in [0, 1)."""
    base = min(MAX_DELAY, FIRST_RETRY * 2 ** min(attempts - 1, 30))
    return base * (0.75 + 0.5 * jitter)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a checked address; the Host header keeps the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a checked address; SNI and certificate check use the host name."""

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(
    target: Target,
    address: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> int:
    """POST `body` to `target` at `address`; the response's status code."""
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(
            target.host, target.port, address, timeout, context or ssl.create_default_context()
        )
    else:
        conn = _PinnedHTTPConnection(target.host, target.port, address, timeout)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)  # what a receiver says is not kept
        return response.status
    finally:
        conn.close()


class WebhookSender:
    def __init__(
        self,
        db: Database,
        policy: WebhookPolicy,
        box: SecretBox,
        *,
        timeout: float = 10.0,
        workers: int = 8,
        poll_interval: float = 0.5,
        clock: Clock = now_ms,
        resolver: Resolver = socket.getaddrinfo,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.policy = policy
        self.box = box
        self.timeout = timeout
        self.workers = workers
        self.poll_interval = poll_interval
        self.clock = clock
        self.resolver = resolver
        self.jitter = jitter
        # A claimed delivery may wait for PREFETCH sends of its webhook (two at
        # a time), then take up to ~2 timeouts (connect, answer) itself.
        self.lease_ms = int(((PREFETCH + 1) * timeout + 2) * 1000)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._queue: queue.Queue[store.Claimed | None] = queue.Queue()
        # Per webhook: deliveries claimed and not done, sends under way (or
        # queued to the workers), and those waiting for one of them to end.
        self._held: collections.Counter[int] = collections.Counter()
        self._running: collections.Counter[int] = collections.Counter()
        self._parked: dict[int, collections.deque[store.Claimed]] = {}
        # Outcomes not yet recorded: the loop writes them in one statement.
        self._outcomes: list[tuple[store.Claimed, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._engine: Engine | None = None
        self._failures = 0

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._loop, name="webhooks", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"webhook-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, wait: float = 2.0) -> None:
        """Stop claiming; give sends in progress up to `wait` seconds (the rest
        are left to their lease, and sent again by whoever claims them next)."""
        self._stopping.set()
        self._wake.set()
        for _ in range(self.workers):
            self._queue.put(None)
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        try:
            self._record()  # what was sent before the stop
        except Exception:
            log.warning("webhook sender: outcomes not recorded at stop", exc_info=True)
        if self._engine is not None:
            event.remove(self._engine, "commit", self._on_commit)
            self._engine = None

    def wake(self) -> None:
        """Look for due deliveries now (e.g. an event or a ping was just committed)."""
        self._wake.set()

    def watch_commits(self, engine: Engine) -> None:
        """Wake on every write transaction this process commits on `engine`:
        events committed here are sent without waiting for the next poll."""
        self._engine = engine
        event.listen(engine, "commit", self._on_commit)

    def _on_commit(self, conn: Connection) -> None:
        if not getattr(_quiet, "on", False) and conn.get_execution_options().get("registry_write"):
            self._wake.set()

    # -- claiming ----------------------------------------------------------------

    def _loop(self) -> None:
        _quiet.on = True
        while not self._stopping.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._record()
                self._claim()
                self._failures = 0
            except Exception as exc:
                self._failures += 1
                if self._failures in (1, 10) or self._failures % 100 == 0:
                    # The database being away is expected now and then (a
                    # restart, a failover): one line; anything else: the trace.
                    unavailable = isinstance(exc, (Unavailable, OperationalError))
                    log.warning(
                        "webhook sender cannot claim deliveries: %s",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                        exc_info=not unavailable,
                    )
                self._stopping.wait(min(30.0, self.poll_interval * self._failures))
            # However often commits wake it, it claims at most ~200 times a second.
            self._stopping.wait(0.005)

    def _record(self) -> None:
        """Write the outcomes the workers left, in one transaction. Lost if it
        fails: the claims then lapse and the deliveries are sent again."""
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            with self.db.write() as conn:
                store.finish(conn, outcomes)

    def _claim(self) -> None:
        # Up to PREFETCH deliveries per worker are claimed ahead (queued while
        # the workers send), so that one claim serves many sends; a webhook
        # holding PER_WEBHOOK * PREFETCH of them here gets no more until some
        # are done.
        with self._lock:
            free = self.workers * PREFETCH - sum(self._held.values())
            full = sorted(w for w, n in self._held.items() if n >= PER_WEBHOOK * PREFETCH)
        if free <= 0:
            return  # a worker that finishes wakes the loop
        now = self.clock()
        with self.db.read() as conn:
            if not store.any_due(conn, now, full):
                return
        with self.db.write() as conn:
            claimed = store.claim(conn, now, now + self.lease_ms, free, full)
        for item in claimed:
            self._dispatch(item)
        if claimed and len(claimed) == free:
            self._wake.set()  # there may be more

    def _dispatch(self, item: store.Claimed) -> None:
        """To a worker, unless PER_WEBHOOK sends of its webhook are under way:
        then it waits for one of them (a slow receiver occupies at most
        PER_WEBHOOK workers; the others keep serving the other webhooks)."""
        with self._lock:
            webhook = item.webhook_id
            self._held[webhook] += 1
            if self._running[webhook] < PER_WEBHOOK:
                self._running[webhook] += 1
                self._queue.put(item)
            else:
                self._parked.setdefault(webhook, collections.deque()).append(item)

    def _done(self, item: store.Claimed) -> None:
        with self._lock:
            webhook = item.webhook_id
            self._held[webhook] -= 1
            if self._held[webhook] <= 0:
                del self._held[webhook]
            parked = self._parked.get(webhook)
            if parked:
                self._queue.put(parked.popleft())
                if not parked:
                    del self._parked[webhook]
            else:
                self._running[webhook] -= 1
                if self._running[webhook] <= 0:
                    del self._running[webhook]
        self._wake.set()

    # -- sending -----------------------------------------------------------------

    def _work(self) -> None:
        _quiet.on = True
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(item)
            except Exception:
                log.warning("webhook delivery %d: attempt failed", item.id, exc_info=True)
            finally:
                self._done(item)

    def attempt(self, claimed: store.Claimed) -> tuple[int, str]:
        """Send once: (HTTP status, "") or (0, why there was no answer)."""
        try:
            secret = self.box.open(claimed.secret)
            target = parse_url(claimed.url, self.policy)
            address = resolve(target.host, target.port, self.policy.allow_private, self.resolver)[0]
            body = payload(claimed)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Registry-Event": claimed.kind,
                "X-Registry-Delivery": str(claimed.id),
                "X-Registry-Signature": signature(secret, int(time.time()), body),
            }
            return post(target, address, body, headers, self.timeout), ""
        except InvalidArgument as exc:  # the URL is no longer allowed by this server
            return 0, exc.message
        except (AddressRefused, ValueError) as exc:
            return 0, str(exc)
        except TimeoutError:
            return 0, f"no answer within {self.timeout:g} s"
        except (OSError, http.client.HTTPException) as exc:
            return 0, f"{type(exc).__name__}: {exc}"

    def _deliver(self, claimed: store.Claimed) -> None:
        code, error = self.attempt(claimed)
        now = self.clock()
        attempts = claimed.attempts + 1
        values: dict[str, Any] = {
            "status": store.PENDING,
            "attempts": attempts,
            "last_code": code,
            "last_attempt_ms": now,
        }
        if 200 <= code < 300:
            values.update(status=store.DELIVERED, last_error="", next_attempt_ms=0)
        else:
            error = error or f"HTTP {code}"
            delay_ms = int(retry_delay(attempts, self.jitter()) * 1000)
            if now + delay_ms > claimed.created_ms + int(GIVE_UP * 1000):
                values.update(status=store.FAILED, next_attempt_ms=0)
                error += f" (gave up after {attempts} attempts)"
            else:
                values.update(next_attempt_ms=now + delay_ms)
            values["last_error"] = error[:MAX_ERROR]
        # registry_webhook_deliveries_total: this attempt's outcome.
        metrics.count_webhook_delivery(_OUTCOMES[values["status"]])
        with self._lock:
            self._outcomes.append((claimed, values))
