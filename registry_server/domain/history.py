"""The model history: filtered event listings and point-in-time state.

TO BE IMPLEMENTED (issue 4).
"""

from __future__ import annotations

from registry_server.domain.entities import EventPage, EventQuery, ModelStateAsOf
from registry_server.store.database import Database


class HistoryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_events(self, query: EventQuery) -> EventPage:
        raise NotImplementedError

    def state_as_of(self, name: str, as_of_ms: int) -> ModelStateAsOf:
        raise NotImplementedError
