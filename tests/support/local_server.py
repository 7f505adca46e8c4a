"""A server in the test process on a free loopback port, with defaults only:
the shared fixtures and the modules that need one of their own start it the
same way."""

from __future__ import annotations

from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start


def start_local(database_url: str, artifact_store: str, *, workers: int = 16) -> RunningServer:
    return start(
        ServerConfig(
            database_url=database_url,
            artifact_store=artifact_store,
            listen="127.0.0.1:0",
            workers=workers,
        )
    )
