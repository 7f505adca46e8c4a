"""What the console is given: the domain services of one server process,
the same objects the gRPC servicer holds (server.py builds both)."""

from __future__ import annotations

from dataclasses import dataclass

from registry_server.domain.artifacts import ArtifactService
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.grants import GrantService
from registry_server.domain.history import HistoryService
from registry_server.domain.lineage import LineageService
from registry_server.domain.registry import Registry
from registry_server.domain.search import SearchService
from registry_server.domain.tokens import Authenticator
from registry_server.events.watch import WatchService


@dataclass
class ConsoleServices:
    """The domain services of one server process (the servicer's own)."""

    registry: Registry
    artifacts: ArtifactService
    search: SearchService
    history: HistoryService
    lineage: LineageService
    grants: GrantService
    authenticator: Authenticator
    watch: WatchService | None = None
    clock: Clock = now_ms
