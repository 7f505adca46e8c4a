"""What the registry's aggregates (models, versions, aliases, resolve) share:
one Registry object is all of them, composed in domain/registry.py."""

from __future__ import annotations

import logging

from registry_server.artifacts.base import ArtifactStore, version_prefix
from registry_server.domain._change import UnitOfWork
from registry_server.domain.access import AccessControl
from registry_server.store.database import Database

log = logging.getLogger(__name__)


class Aggregate:
    db: Database
    store: ArtifactStore | None
    access: AccessControl
    changes: UnitOfWork

    def _delete_objects(self, prefix: str) -> None:
        """After the commit that disowned them; a failure leaves orphans that
        `registry-server gc` removes later, never a version without files."""
        if self.store is None:
            return
        try:
            self.store.delete_prefix(prefix)
        except Exception:
            log.warning("could not delete %s; `registry-server gc` will", prefix, exc_info=True)

    def delete_version_objects(self, model_id: int, version: int) -> None:
        self._delete_objects(version_prefix(model_id, version))
