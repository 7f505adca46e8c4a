"""A registry server with authentication on, and the tokens and clients the
access-control tests (tests/test_access_*.py) call it with.

The server is the real one (`registry_server.server.start`) on a free loopback port;
tokens are made directly in its database (`TokenService.create_unchecked`, what
`registry-server tokens create` does), so a test can have a principal of any role
without going through the API it is testing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from registry_client import RegistryClient
from registry_server.config import ServerConfig
from registry_server.domain.access import Role
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.tokens import TokenService
from registry_server.server import RunningServer, start
from registry_server.store.schema import access_tokens, model_events

#: What the test clients claim as `registry-actor`: with authentication on, the
#: server must record the token's principal instead, never this.
SPOOFED_ACTOR = "spoofed-actor"


def client_for(target: str, secret: str | None, actor: str = SPOOFED_ACTOR) -> RegistryClient:
    """A client sending `secret` as its bearer token, or no token at all when None
    (even if $REGISTRY_TOKEN is set in the environment running the tests)."""
    saved = os.environ.pop("REGISTRY_TOKEN", None)
    try:
        return RegistryClient(target, token=secret, actor=actor, timeout=60, max_attempts=3)
    finally:
        if saved is not None:
            os.environ["REGISTRY_TOKEN"] = saved


@dataclass
class AuthServer:
    """A running server with `require_auth=True`, and an admin client for setup."""

    running: RunningServer
    backend: str
    tmp: Path
    admin_secret: str = ""
    _admin: RegistryClient | None = None
    _clients: list[RegistryClient] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    @property
    def tokens(self) -> TokenService:
        return TokenService(self.running.database)

    def token(self, principal: str, role: str = "none", expires_in_seconds: int = 0) -> str:
        """A new token's secret for `principal` with the global `role`."""
        _, secret = self.tokens.create_unchecked(
            principal, Role.parse(role), "test", expires_in_seconds, "test-suite"
        )
        return secret

    def token_with_id(self, principal: str, role: str = "none") -> tuple[int, str]:
        token, secret = self.tokens.create_unchecked(
            principal, Role.parse(role), "test", 0, "test-suite"
        )
        return token.token_id, secret

    def client(self, secret: str | None, actor: str = SPOOFED_ACTOR) -> RegistryClient:
        made = client_for(self.target, secret, actor)
        self._clients.append(made)
        return made

    def principal_client(self, role: str, stem: str = "p") -> tuple[str, RegistryClient]:
        """A fresh principal (unique name) with the global `role`, and its client."""
        principal = f"{stem}-{role}-{uuid.uuid4().hex[:6]}"
        return principal, self.client(self.token(principal, role))

    @property
    def admin(self) -> RegistryClient:
        """A global admin's client (principal `root-admin`), for setup and checks."""
        if self._admin is None:
            self.admin_secret = self.token("root-admin", "admin")
            self._admin = self.client(self.admin_secret, actor="root-admin")
        return self._admin

    def last_event_id(self) -> int:
        with self.running.database.read() as conn:
            return int(conn.execute(sa.select(sa.func.max(model_events.c.id))).scalar() or 0)

    def expire_token(self, token_id: int) -> None:
        """Move a token's expiry into the past (as if its lifetime had run out)."""
        with self.running.database.write() as conn:
            conn.execute(
                sa.update(access_tokens)
                .where(access_tokens.c.id == token_id)
                .values(expiration_time=1)
            )

    def close(self) -> None:
        for made in self._clients:
            made.close()
        self.running.stop(grace=1)


def start_auth_server(
    database_url: str, artifact_dir: Path, *, clock: Clock = now_ms, **settings: object
) -> RunningServer:
    config = ServerConfig(
        database_url=database_url,
        artifact_store=str(artifact_dir),
        listen="127.0.0.1:0",
        workers=8,
        require_auth=True,
        # Webhooks to loopback (tests/support/access.py prepares one per model).
        allow_insecure_webhooks=True,
        allow_private_webhooks=True,
        **settings,  # type: ignore[arg-type]
    )
    return start(config, clock=clock)


@contextmanager
def auth_server(
    database_url: str, tmp: Path, backend: str, clock: Clock = now_ms
) -> Iterator[AuthServer]:
    """`clock` is the server's time (token expiry, the authenticator's cache, recorded
    changes): a test passes a `support.waiting.FakeClock` to move it instead of sleeping."""
    server = AuthServer(
        start_auth_server(database_url, tmp / "artifacts", clock=clock), backend, tmp
    )
    try:
        yield server
    finally:
        server.close()
