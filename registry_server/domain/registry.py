"""The registry's use cases: each public method is one transaction.

This layer decides (validation, state rules, which events to record); the
store executes SQL; the API layer translates. The use cases are split by
aggregate (domain/models.py, versions.py, aliases.py, resolve.py) and every
mutation runs in the unit of work of domain/_change.py: the model's row lock
first, then the clock, the access decision, the change and its events, in
one transaction. Registry is all of them in one object, which the servicer
holds.
"""

from __future__ import annotations

from registry_server.artifacts.base import ArtifactStore
from registry_server.domain._change import UnitOfWork, version_label
from registry_server.domain.access import AccessControl
from registry_server.domain.aliases import Aliases
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.imports import Imports
from registry_server.domain.models import Models
from registry_server.domain.resolve import Resolve
from registry_server.domain.versions import Versions
from registry_server.store.database import Database

__all__ = ["Registry", "version_label"]


class Registry(Models, Versions, Aliases, Resolve, Imports):
    """Entry point of the domain; the servicer holds one.

    `clock` gives every change its time (epoch ms); tests pass a fake one.
    """

    def __init__(
        self,
        db: Database,
        store: ArtifactStore | None = None,
        access: AccessControl | None = None,
        *,
        clock: Clock = now_ms,
    ) -> None:
        self.db = db
        self.store = store
        self.access = access or AccessControl(db, clock=clock)
        self.changes = UnitOfWork(db, self.access, clock)
