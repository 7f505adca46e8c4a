"""Webhooks: who may register them, which URLs are accepted, how secrets are kept.

URLs are the dangerous part. A webhook makes the server send requests where
an admin says, so a URL must not reach what only the server can reach: the
cloud metadata service (169.254.169.254), the database, a sidecar on
loopback. A URL is refused when its host resolves to a loopback, link-local,
private, unspecified, multicast or otherwise non-public address, unless the
server runs with --allow-private-webhooks; and http is refused unless it runs
with --allow-insecure-webhooks. The address is checked here, at creation,
and again by the sender before every attempt (DNS can change after the
check, the classic rebinding trick), which then connects to the very address
it checked (events/webhook_sender.py). A host whose names resolve to a mix
of public and private addresses is refused as a whole.

Secrets sign every delivery (HMAC-SHA256); they are shown once, by
CreateWebhook, and never returned again. With REGISTRY_WEBHOOK_KEY set (a
Fernet key: `python -c 'from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())'`) they are stored encrypted;
otherwise they are stored as given, readable by whoever can read the
database, and only never returned. The stored form says which it is
("fernet:" or "plain:"), so setting the key later keeps old secrets usable.

Webhook administration is for global admins only and is not recorded as
events (ModelEvent.kind has no kinds for it).
"""

from __future__ import annotations

import builtins
import ipaddress
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

from registry_server.domain import validation
from registry_server.domain._change import UnitOfWork
from registry_server.domain.access import AccessControl, Caller, Role
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from registry_server.domain.events import EventKind
from registry_server.store import webhooks as store
from registry_server.store.database import Database
from registry_server.store.events import EVENT_KINDS

MAX_URL = 2048
MAX_DESCRIPTION = 1024
MIN_SECRET = 16
MAX_SECRET = 256
MAX_FILTER_ENTRIES = 1000
STATUSES = (store.PENDING, store.DELIVERED, store.FAILED)

#: What resolves a host: socket.getaddrinfo's signature (tests may pass another).
Resolver = Callable[..., Sequence[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """What the server allows (its --allow-*-webhooks flags)."""

    allow_insecure: bool = False
    allow_private: bool = False


class AddressRefused(Exception):
    """A webhook's host resolves where webhooks may not go, or not at all."""


def _refusal(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attribute, label in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_unspecified", "an unspecified"),
        ("is_multicast", "a multicast"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(ip, attribute):
            return label
    return None if ip.is_global else "a non-public"


def resolve(
    host: str, port: int, allow_private: bool, resolver: Resolver = socket.getaddrinfo
) -> list[str]:
    """The addresses of `host`, every one of them allowed; raises AddressRefused."""
    try:
        found = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve host {host!r}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise AddressRefused(f"host {host!r} has no address")
    if not allow_private:
        for address in addresses:
            label = _refusal(address)
            if label is not None:
                raise AddressRefused(
                    f"host {host!r} resolves to {address}, {label} address; the server "
                    "allows those only with --allow-private-webhooks"
                )
    return addresses


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL, split for the sender."""

    scheme: str
    host: str
    port: int
    path: str  # with the query string


def parse_url(url: str, policy: WebhookPolicy, field: str = "url") -> Target:
    """The URL's shape (not its address): http(s), a host, no credentials."""
    if not url:
        raise InvalidArgument(f"{field} is required")
    if len(url) > MAX_URL:
        raise InvalidArgument(f"{field} is longer than {MAX_URL} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise InvalidArgument(
            f"{field} must be printable ASCII without spaces (percent-encode the rest)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgument(f"{field} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidArgument(f"{field} must start with https:// (or http://)")
    if scheme == "http" and not policy.allow_insecure:
        raise InvalidArgument(
            f"{field}: http is refused (deliveries would travel unencrypted); use https, "
            "or run the server with --allow-insecure-webhooks"
        )
    if not parts.hostname:
        raise InvalidArgument(f"{field} has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument(f"{field} must not contain credentials (user:password@)")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, parts.hostname, port or (443 if scheme == "https" else 80), path)


class SecretBox:
    """Seals secrets for storage (Fernet with REGISTRY_WEBHOOK_KEY, else as given)."""

    def __init__(self, key: str | None) -> None:
        try:
            self._fernet = Fernet(key.encode()) if key else None
        except ValueError:
            raise ValueError(
                "$REGISTRY_WEBHOOK_KEY must be a Fernet key (32 url-safe base64-encoded "
                "bytes, e.g. from `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            return "plain:" + secret
        return "fernet:" + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret; ValueError when it cannot be read with this server's key."""
        kind, _, value = stored.partition(":")
        if kind == "plain":
            return value
        if self._fernet is None:
            raise ValueError("the webhook's secret is encrypted and REGISTRY_WEBHOOK_KEY is unset")
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            raise ValueError("the webhook's secret was encrypted with another key") from None


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: int
    url: str
    events: tuple[str, ...]
    models: tuple[str, ...]
    description: str
    enabled: bool
    creation_ms: int
    created_by: str
    last_updated_ms: int

    @classmethod
    def from_row(cls, row: store.WebhookRow) -> Webhook:
        return cls(
            webhook_id=row.id,
            url=row.url,
            events=row.kinds,
            models=row.models,
            description=row.description,
            enabled=row.enabled,
            creation_ms=row.creation_time,
            created_by=row.created_by,
            last_updated_ms=row.last_updated_time,
        )


def _audit(webhook: Webhook) -> dict[str, Any]:
    """What the history records of a webhook: its settings, with the URL cut
    to scheme, host, port and path (a query string or user info may hold a
    receiver's credentials; admins see the full URL in ListWebhooks)."""
    parts = urlsplit(webhook.url)
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
    return {
        "webhook_id": webhook.webhook_id,
        "url": shown,
        "events": list(webhook.events),
        "models": list(webhook.models),
        "description": webhook.description,
        "enabled": webhook.enabled,
    }


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    delivery_id: int
    webhook_id: int
    event_id: int  # 0: a ping
    kind: str
    status: str
    attempts: int
    last_response_code: int
    last_error: str
    next_attempt_ms: int  # 0: none due
    creation_ms: int
    last_attempt_ms: int

    @classmethod
    def from_row(cls, row: Any) -> WebhookDelivery:
        return cls(
            delivery_id=int(row.id),
            webhook_id=int(row.webhook_id),
            event_id=int(row.event_id or 0),
            kind=row.kind,
            status=row.status,
            attempts=int(row.attempts),
            last_response_code=int(row.last_code),
            last_error=row.last_error,
            next_attempt_ms=int(row.next_attempt_ms) if row.status == store.PENDING else 0,
            creation_ms=int(row.created_ms),
            last_attempt_ms=int(row.last_attempt_ms),
        )


def _kinds(values: Sequence[str], field: str) -> list[str]:
    if len(values) > MAX_FILTER_ENTRIES:
        raise InvalidArgument(f"{field} has more than {MAX_FILTER_ENTRIES} entries")
    for value in values:
        if value not in EVENT_KINDS:
            raise InvalidArgument(
                f"{field}: unknown event kind {value[:100]!r}; known: "
                + ", ".join(sorted(EVENT_KINDS))
            )
    return sorted(set(values))


def _models(values: Sequence[str], field: str) -> list[str]:
    if len(values) > MAX_FILTER_ENTRIES:
        raise InvalidArgument(f"{field} has more than {MAX_FILTER_ENTRIES} entries")
    return sorted({validation.model_name(v, field) for v in values})


def _description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise InvalidArgument(f"description is longer than {MAX_DESCRIPTION} characters")
    return validation.description(value)


class WebhookService:
    def __init__(
        self,
        db: Database,
        access: AccessControl,
        policy: WebhookPolicy,
        box: SecretBox,
        *,
        clock: Clock = now_ms,
        resolver: Resolver = socket.getaddrinfo,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.access = access
        # Administration is recorded in the history like token changes.
        self.changes = UnitOfWork(db, access, clock)
        self.policy = policy
        self.box = box
        self.clock = clock
        self.resolver = resolver
        # Told when a delivery was queued here (the sender's wake-up).
        self.on_queued = on_queued

    def _check_url(self, url: str) -> str:
        target = parse_url(url, self.policy)
        if not self.policy.allow_private:
            try:
                resolve(target.host, target.port, False, self.resolver)
            except AddressRefused as exc:
                raise InvalidArgument(f"url: {exc}") from None
        return url

    def create(
        self,
        url: str,
        events: Sequence[str],
        models: Sequence[str],
        secret: str,
        description: str,
        caller: Caller,
    ) -> tuple[Webhook, str]:
        """A new webhook (enabled) and its secret: the one given, or a new one."""
        self.access.require_global(caller, Role.ADMIN, "creating a webhook")
        kinds = _kinds(events, "events")
        names = _models(models, "models")
        description = _description(description)
        if secret:
            if not MIN_SECRET <= len(secret) <= MAX_SECRET:
                raise InvalidArgument(
                    f"secret must be {MIN_SECRET} to {MAX_SECRET} characters "
                    "(or empty: the server generates one)"
                )
            validation.short(secret, "secret", MAX_SECRET)
        else:
            secret = secrets.token_urlsafe(32)
        self._check_url(url)
        with self.changes.unlocked(caller.principal) as change:
            conn = change.conn
            webhook_id = store.create(
                conn,
                url=url,
                secret=self.box.seal(secret),
                description=description,
                created_by=caller.principal,
                now=change.now,
                kinds=kinds,
                models=names,
            )
            row = store.get(conn, webhook_id)
            assert row is not None
            created = Webhook.from_row(row)
            change.record(EventKind.WEBHOOK_CREATED, after=_audit(created))
        return created, secret

    def list(self, caller: Caller) -> builtins.list[Webhook]:
        self.access.require_global(caller, Role.ADMIN, "listing webhooks", mutation=False)
        with self.db.read() as conn:
            return [Webhook.from_row(r) for r in store.list_all(conn)]

    def update(
        self,
        webhook_id: int,
        caller: Caller,
        *,
        url: str | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        events: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
    ) -> Webhook:
        """Change what is given (None: keep); a list replaces that filter."""
        self.access.require_global(caller, Role.ADMIN, "changing a webhook")
        values: dict[str, Any] = {}
        kinds = None if events is None else _kinds(events, "events")
        names = None if models is None else _models(models, "models")
        if description is not None:
            values["description"] = _description(description)
        if url is not None:
            values["url"] = self._check_url(url)
        if enabled is not None:
            values["enabled"] = enabled
        with self.changes.unlocked(caller.principal) as change:
            conn = change.conn
            old = store.get(conn, webhook_id, lock=True)
            if old is None:
                raise NotFound(f"webhook_id: no webhook {webhook_id}")
            store.update_webhook(conn, webhook_id, change.now, values, kinds, names)
            row = store.get(conn, webhook_id)
            assert row is not None
            updated = Webhook.from_row(row)
            before, after = _audit(Webhook.from_row(old)), _audit(updated)
            if before != after:
                change.record(EventKind.WEBHOOK_UPDATED, before=before, after=after)
        return updated

    def delete(self, webhook_id: int, caller: Caller) -> None:
        self.access.require_global(caller, Role.ADMIN, "deleting a webhook")
        with self.changes.unlocked(caller.principal) as change:
            old = store.get(change.conn, webhook_id, lock=True)
            if old is None or not store.delete_webhook(change.conn, webhook_id):
                raise NotFound(f"webhook_id: no webhook {webhook_id}")
            change.record(EventKind.WEBHOOK_DELETED, before=_audit(Webhook.from_row(old)))

    def deliveries(
        self, webhook_id: int, status: str, before_id: int | None, limit: int, caller: Caller
    ) -> builtins.list[WebhookDelivery]:
        """Up to `limit` deliveries, newest first, below `before_id` (None: all)."""
        self.access.require_global(caller, Role.ADMIN, "listing webhook deliveries", mutation=False)
        if status and status not in STATUSES:
            raise InvalidArgument(
                f"status must be one of {', '.join(STATUSES)} (or empty), got {status[:50]!r}"
            )
        with self.db.read() as conn:
            if store.get(conn, webhook_id) is None:
                raise NotFound(f"webhook_id: no webhook {webhook_id}")
            rows = store.deliveries(conn, webhook_id, status, before_id, limit)
        return [WebhookDelivery.from_row(r) for r in rows]

    def test(self, webhook_id: int, caller: Caller) -> WebhookDelivery:
        """Queue a ping to the webhook."""
        self.access.require_global(caller, Role.ADMIN, "testing a webhook")
        with self.db.write() as conn:
            row = store.get(conn, webhook_id, lock=True)
            if row is None:
                raise NotFound(f"webhook_id: no webhook {webhook_id}")
            if not row.enabled:
                raise FailedPrecondition(
                    f"webhook {webhook_id} is disabled; enable it first (UpdateWebhook)"
                )
            delivery = WebhookDelivery.from_row(store.queue_ping(conn, webhook_id, self.clock()))
        if self.on_queued is not None:
            self.on_queued()
        return delivery
