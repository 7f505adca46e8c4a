"""Search over models and versions: filter strings, ordering, keyset pages.

TO BE IMPLEMENTED (issue 4): parse the filter (domain/search_filter.py),
compile it to SQLAlchemy (store/search.py), page by keyset.
"""

from __future__ import annotations

from collections.abc import Sequence

from registry_server.domain.entities import ModelVersion, Page, RegisteredModel
from registry_server.store.database import Database


class SearchService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def search_models(
        self, filter_string: str, order_by: Sequence[str], page_size: int, page_token: str
    ) -> Page[RegisteredModel]:
        raise NotImplementedError

    def search_versions(
        self, filter_string: str, order_by: Sequence[str], page_size: int, page_token: str
    ) -> Page[ModelVersion]:
        raise NotImplementedError

    def versions_by_run(self, run_id: str, page_size: int, page_token: str) -> Page[ModelVersion]:
        raise NotImplementedError

    def versions_by_dataset(
        self, digest: str, page_size: int, page_token: str
    ) -> Page[ModelVersion]:
        raise NotImplementedError
