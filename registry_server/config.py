"""Server settings: flags override environment variables override defaults.

The defaults are the embedded setup: a SQLite file under ./registry-data and
loopback only, so `registry-server serve` works on a laptop with no setup and
is not reachable from the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("registry-data")
DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_WORKERS = 16


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{(data_dir / 'registry.db').as_posix()}"


def default_artifact_store(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return (data_dir / "artifacts").as_posix()


@dataclass(frozen=True)
class ServerConfig:
    database_url: str
    artifact_store: str = field(default_factory=default_artifact_store)
    listen: str = DEFAULT_LISTEN
    workers: int = DEFAULT_WORKERS
    grace_seconds: float = 10.0

    @classmethod
    def from_env(
        cls,
        database_url: str | None = None,
        listen: str | None = None,
        workers: int | None = None,
        artifact_store: str | None = None,
    ) -> ServerConfig:
        return cls(
            database_url=database_url
            or os.environ.get("REGISTRY_DATABASE_URL")
            or default_database_url(),
            artifact_store=artifact_store
            or os.environ.get("REGISTRY_ARTIFACT_STORE")
            or default_artifact_store(),
            listen=listen or os.environ.get("REGISTRY_LISTEN") or DEFAULT_LISTEN,
            workers=workers or int(os.environ.get("REGISTRY_WORKERS", DEFAULT_WORKERS)),
        )
