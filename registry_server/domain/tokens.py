"""Access tokens: creation (secret shown once), listing, revocation, and the
per-call authentication that turns a bearer token into a `Caller`.

Secrets are 256 random bits; the database keeps only their SHA-256, so a
leaked database does not leak usable tokens. Authentication looks a token up
by that hash through a small time-bounded cache: a revocation or expiry
reaches every replica within `CACHE_SECONDS`, and a busy server does not pay
a database round trip per call. The server that revokes a token drops it from
its own cache as the revocation commits (`TokenService(on_revoke=...)`), so
there it stops working at once.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError

from registry_server.domain import validation
from registry_server.domain._change import UnitOfWork
from registry_server.domain.access import AccessControl, Caller, Role
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.errors import InvalidArgument, NotFound, Unauthenticated
from registry_server.domain.events import EventKind
from registry_server.store import access as store
from registry_server.store.database import Database

TOKEN_PREFIX = "mrt_"
CACHE_SECONDS = 5.0
CACHE_MAX_ENTRIES = 10_000
MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600
MAX_DESCRIPTION = 1024


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class AccessToken:
    token_id: int
    principal: str
    role: Role
    description: str
    prefix: str
    creation_ms: int
    expiration_ms: int | None
    revocation_ms: int | None
    created_by: str

    @classmethod
    def from_row(cls, row: Any) -> AccessToken:
        return cls(
            token_id=int(row.id),
            principal=row.principal,
            role=Role.parse(row.role),
            description=row.description,
            prefix=row.prefix,
            creation_ms=int(row.creation_time),
            expiration_ms=row.expiration_time,
            revocation_ms=row.revocation_time,
            created_by=row.created_by,
        )


def principal_name(value: str, field: str = "principal") -> str:
    """Principals end up in metadata-derived history, so printable, no edges."""
    if not value or value != value.strip():
        raise InvalidArgument(f"{field} must be non-empty, without leading/trailing spaces")
    if not value.isprintable():
        raise InvalidArgument(f"{field} must contain printable characters only")
    return validation.short(value, field)


class TokenService:
    def __init__(
        self,
        db: Database,
        access: AccessControl | None = None,
        *,
        clock: Clock = now_ms,
        on_revoke: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.access = access or AccessControl(db, clock=clock)
        self.changes = UnitOfWork(db, self.access, clock)
        # Told the id of each token revoked, once the revocation committed
        # (the server's Authenticator.forget).
        self.on_revoke = on_revoke

    def create(
        self,
        principal: str,
        role: Role,
        description: str,
        expires_in_seconds: int,
        caller: Caller,
    ) -> tuple[AccessToken, str]:
        """A new token and its secret; only the secret's hash is stored."""
        self.access.require_global(caller, Role.ADMIN, "creating an access token")
        principal_name(principal)
        if len(description) > MAX_DESCRIPTION:
            raise InvalidArgument(f"description must be at most {MAX_DESCRIPTION} characters")
        if "\x00" in description:  # PostgreSQL refuses it in a string outright
            raise InvalidArgument("description must not contain NUL characters")
        if not 0 <= expires_in_seconds <= MAX_LIFETIME_SECONDS:
            raise InvalidArgument(
                f"expires_in_seconds must be between 0 (never) and {MAX_LIFETIME_SECONDS}"
            )
        return self.create_unchecked(
            principal, role, description, expires_in_seconds, caller.principal
        )

    def create_unchecked(
        self,
        principal: str,
        role: Role,
        description: str,
        expires_in_seconds: int,
        created_by: str,
        secret: str | None = None,
    ) -> tuple[AccessToken, str]:
        """For `registry-server tokens create` (which has database access and
        so needs no token) and the bootstrap token."""
        secret = secret or new_secret()
        with self.changes.unlocked(created_by) as change:
            conn, now = change.conn, change.now
            expires = now + expires_in_seconds * 1000 if expires_in_seconds else None
            token_id = store.insert_token(
                conn,
                principal=principal,
                role=role.label,
                secret_hash=hash_secret(secret),
                prefix=secret[: len(TOKEN_PREFIX) + 4],
                description=description,
                created_by=created_by,
                now=now,
                expires=expires,
            )
            change.record(
                EventKind.TOKEN_CREATED,
                after={"token_id": token_id, "principal": principal, "role": role.label},
            )
            row = store.token_by_id(conn, token_id)
        return AccessToken.from_row(row), secret

    def list(self, include_inactive: bool, caller: Caller) -> builtins.list[AccessToken]:
        self.access.require_global(caller, Role.ADMIN, "listing access tokens", mutation=False)
        return self.list_unchecked(include_inactive)

    def list_unchecked(self, include_inactive: bool) -> builtins.list[AccessToken]:
        with self.db.read() as conn:
            rows = store.list_tokens(conn, None if include_inactive else self.changes.clock())
        return [AccessToken.from_row(r) for r in rows]

    def revoke(self, token_id: int, caller: Caller) -> AccessToken:
        self.access.require_global(caller, Role.ADMIN, "revoking an access token")
        return self.revoke_unchecked(token_id, caller.principal)

    def revoke_unchecked(self, token_id: int, actor: str) -> AccessToken:
        with self.changes.unlocked(actor) as change:
            conn = change.conn
            row = store.token_by_id(conn, token_id)
            if row is None:
                raise NotFound(f"token_id: no access token {token_id}")
            if row.revocation_time is None:
                store.revoke_token(conn, token_id, change.now)
                change.record(
                    EventKind.TOKEN_REVOKED,
                    before={"token_id": token_id, "principal": row.principal},
                )
            row = store.token_by_id(conn, token_id)
        if self.on_revoke is not None:
            self.on_revoke(token_id)
        return AccessToken.from_row(row)

    def ensure(self, secret: str, principal: str, role: Role) -> None:
        """Make `secret` a valid token (e.g. REGISTRY_BOOTSTRAP_ADMIN_TOKEN from
        a Kubernetes Secret), so a fresh deployment has a first admin."""
        if self._exists(secret):
            return
        try:
            self.create_unchecked(principal, role, "bootstrap", 0, "registry-server", secret)
        except IntegrityError:
            # Another replica starting at the same moment created it first
            # (the secret's hash is unique): that is the token we wanted.
            if not self._exists(secret):
                raise

    def _exists(self, secret: str) -> bool:
        with self.db.read() as conn:
            return store.token_by_hash(conn, hash_secret(secret)) is not None


class TokenRefused(Unauthenticated):
    """Unauthenticated, with why in a word (`reason`: missing, malformed,
    unknown, expired, revoked, multiple), which the metrics count by
    (registry_auth_failures_total): a fixed word, never the token."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Known(NamedTuple):
    """A cached lookup: when it was made (the clock's ms), the token's row
    (None: no such token) and the Caller it authenticates as."""

    at: int
    row: Any
    caller: Caller | None


class Authenticator:
    """Turns the `authorization` metadata of a call into a Caller.

    Lookups are cached by the metadata's value as sent, so a call whose
    token was seen in the last `CACHE_SECONDS` costs a dictionary lookup and
    the revocation and expiry checks, not a parse, a SHA-256 and a new
    Caller (5-6% of the server's Python time on get-by-alias, py-spy). The
    cache holds bearer strings for those seconds; a token is in this
    process's memory while its calls are served anyway.
    """

    def __init__(self, db: Database, required: bool, *, clock: Clock = now_ms) -> None:
        self.db = db
        self.required = required
        # What expiry and the age of cached lookups are judged against.
        self.clock = clock
        self._cache: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None, declared_actor: str) -> Caller:
        if not self.required:
            return Caller.unauthenticated(declared_actor)
        if not authorization:
            raise TokenRefused(
                "authorization: this server requires a bearer token "
                "(metadata `authorization: Bearer <token>`)",
                "missing",
            )
        now = self.clock()
        # Read without the lock: a dict lookup is atomic, and an entry is
        # replaced whole, never changed.
        known = self._cache.get(authorization)
        # An entry from the future (the wall clock stepped back) counts as
        # stale: no entry is served for longer than CACHE_SECONDS either way.
        if known is None or not 0 <= now - known.at < CACHE_SECONDS * 1000:
            known = self._look_up(authorization, now)
        row = known.row
        if row is None:
            raise TokenRefused("authorization: unknown access token", "unknown")
        if row.revocation_time is not None:
            raise TokenRefused(f"authorization: access token {row.id} was revoked", "revoked")
        if row.expiration_time is not None and row.expiration_time <= now:
            raise TokenRefused(f"authorization: access token {row.id} has expired", "expired")
        assert known.caller is not None, "a known token has its caller"
        return known.caller

    def forget(self, token_id: int) -> None:
        """Drop a token from the cache (it was just revoked): its next call
        is looked up again, and refused."""
        with self._lock:
            stale = [
                header
                for header, known in self._cache.items()
                if known.row is not None and known.row.id == token_id
            ]
            for header in stale:
                del self._cache[header]

    def _look_up(self, authorization: str, now: int) -> _Known:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise TokenRefused("authorization: expected `Bearer <token>`", "malformed")
        with self.db.read() as conn:
            row = store.token_by_hash(conn, hash_secret(secret.strip()))
        caller = None
        if row is not None:
            caller = Caller(
                principal=row.principal, role=Role.parse(row.role), token_id=int(row.id)
            )
        known = _Known(now, row, caller)
        with self._lock:
            if len(self._cache) >= CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[authorization] = known
        return known
