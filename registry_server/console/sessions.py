"""Console sign-in: an access token, sent once, becomes a session cookie.

The cookie holds a random 256-bit id; the database keeps only its SHA-256
with the id of the token it was opened with (store/console_sessions.py).
Sessions live in PostgreSQL (or the SQLite file), not in a process: with
`serve --processes N` and several replicas any process accepts the cookie,
and signing out deletes the row, which ends the session everywhere at once.

Every request reads the session joined with its token (one indexed lookup):
a token revoked or expired ends the console sessions opened with it, with no
cache window, and the caller is the token's principal and role, the same
`Caller` the token would give a gRPC call.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from registry_server.domain.access import Caller, Role
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.errors import Unauthenticated
from registry_server.domain.tokens import Authenticator
from registry_server.store import console_sessions as store
from registry_server.store.database import Database

#: How long a sign-in lasts at most (a token that expires sooner ends it sooner).
SESSION_SECONDS = 8 * 3600


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    caller: Caller
    expires_ms: int


class SessionService:
    def __init__(self, db: Database, authenticator: Authenticator, *, clock: Clock = now_ms):
        self.db = db
        self.authenticator = authenticator
        self.clock = clock

    def sign_in(self, secret: str) -> Session:
        """Check `secret` exactly as a gRPC call's bearer token is checked,
        then open a session for its token; Unauthenticated if refused."""
        caller = self.authenticator.authenticate(f"Bearer {secret.strip()}", "")
        if caller.token_id is None:  # pragma: no cover - required auth gives ids
            raise Unauthenticated("token: this server does not use tokens")
        now = self.clock()
        expires = now + SESSION_SECONDS * 1000
        session_id = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            store.remove_expired(conn, now)
            store.insert(
                conn, id_hash=_hash(session_id), token_id=caller.token_id, now=now, expires=expires
            )
        return Session(session_id, caller, expires)

    def caller(self, session_id: str) -> Caller | None:
        """The session's caller, or None when it is unknown, signed out,
        expired, or its token was revoked or has expired."""
        if not session_id or len(session_id) > 128:
            return None
        now = self.clock()
        with self.db.read() as conn:
            row = store.with_token(conn, _hash(session_id), now)
        if row is None or row.revocation_time is not None:
            return None
        if row.expiration_time is not None and row.expiration_time <= now:
            return None
        return Caller(principal=row.principal, role=Role.parse(row.role), token_id=int(row.id))

    def sign_out(self, session_id: str) -> None:
        if not session_id or len(session_id) > 128:
            return
        with self.db.write() as conn:
            store.remove(conn, _hash(session_id))
