"""Lineage queries: a version's ancestors and descendants through parent links.

TO BE IMPLEMENTED (issue 4).
"""

from __future__ import annotations

from registry_server.domain.entities import VersionLineage
from registry_server.store.database import Database


class LineageService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def lineage(self, name: str, version: int, max_depth: int) -> VersionLineage:
        raise NotImplementedError
