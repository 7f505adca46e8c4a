"""Walking search results in the search tests: every page of a search (failing,
instead of looping forever, should the pages never end), the names or keys found, and
LIKE patterns scoped to one test's names (tests share one database per backend).
"""

from __future__ import annotations

from collections.abc import Sequence

from registry_client import ModelVersion, RegisteredModel, RegistryClient
from support.waiting import next_millisecond


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching names that start with ``prefix`` literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def tick() -> None:
    """Let the millisecond clock move, so timestamps order rows strictly."""
    next_millisecond()


MAX_PAGES = 500


def all_models(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[RegisteredModel]:
    """Every page of a model search; fails (instead of looping forever) if
    the pages never end, as they would if the keyset step were wrong."""
    found: list[RegisteredModel] = []
    token = None
    for _ in range(MAX_PAGES):
        page = client.search_registered_models(filter_string, page_size, order_by, token)
        found.extend(page)
        token = page.token
        if token is None:
            return found
    raise AssertionError(f"more than {MAX_PAGES} pages for {filter_string!r}")


def all_versions(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[ModelVersion]:
    found: list[ModelVersion] = []
    token = None
    for _ in range(MAX_PAGES):
        page = client.search_model_versions(filter_string, page_size, order_by, token)
        found.extend(page)
        token = page.token
        if token is None:
            return found
    raise AssertionError(f"more than {MAX_PAGES} pages for {filter_string!r}")


def model_names(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[str]:
    return [m.name for m in all_models(client, filter_string, order_by, page_size)]


def version_keys(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in all_versions(client, filter_string, order_by, page_size)]
