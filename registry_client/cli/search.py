"""``registry search`` and ``registry resolve``: finding models and versions."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import key_values, models_table, version_text, versions_table
from registry_client.cli._parsing import Result, command, group, positive_int
from registry_client.types import ResolvedModel


def add_search_options(p: argparse.ArgumentParser, fields: str | None, order_keys: str) -> None:
    """--filter (with ``fields`` as its example; none for a plain listing),
    --order-by and the paging options."""
    if fields is None:
        p.set_defaults(filter=None)
    else:
        p.add_argument(
            "--filter",
            metavar="FILTER",
            default=None,
            # argparse %-formats help strings: a LIKE pattern's % must be doubled.
            help=f"e.g. {fields.replace('%', '%%')} (default: everything)",
        )
    p.add_argument(
        "--order-by",
        dest="order_by",
        action="append",
        metavar="KEY",
        help=f"{order_keys}, each optionally followed by ASC or DESC; repeat for up to 3",
    )
    p.add_argument(
        "--max-results",
        type=positive_int,
        default=100,
        metavar="N",
        help="results per page, up to 1000 (default: 100); with --all, the size of each page",
    )
    pages = p.add_mutually_exclusive_group()
    pages.add_argument(
        "--page-token",
        metavar="TOKEN",
        help="continue after the page that printed this token",
    )
    pages.add_argument(
        "--all", action="store_true", help="fetch every page instead of one (no token printed)"
    )


SEARCH_PAGES = (
    "One page per call: when more results remain, the token for the next page goes\n"
    "to stderr (table) or is next_page_token (JSON, null on the last page)."
)


_GRAMMAR = (
    "Filters use MLflow's grammar plus OR and parentheses: comparisons such as\n"
    "name LIKE 'fraud%', tags.team = 'risk' or alias = 'champion', joined with AND/OR.\n"
    "Quote the whole filter for the shell; the grammar: docs/search.md."
)


def add(sub: Any) -> None:
    g = group(
        sub,
        "search",
        "find models and versions with a filter",
        "Search registered models or versions with a filter, sorted and paged.\n\n" + _GRAMMAR,
        [
            "registry search models --filter \"tags.team = 'risk'\"",
            "registry search versions --filter \"alias = 'champion'\" --all",
        ],
    )
    p = command(
        g,
        "models",
        search_models,
        "search registered models",
        "List registered models matching --filter (fields: name, tags.KEY, alias,\n"
        "description, creation_timestamp, last_updated_timestamp), by name unless\n"
        "--order-by.\n\n" + _GRAMMAR + "\n\n" + SEARCH_PAGES,
        [
            "registry search models --filter \"name LIKE 'fraud%' AND tags.team = 'risk'\"",
            "registry search models --order-by 'last_updated_timestamp DESC' --max-results 10",
            "registry --output json search models --filter \"alias = 'champion'\" --all",
            "registry search models --filter \"name LIKE 'fraud%'\" --page-token TOKEN",
        ],
    )
    add_search_options(
        p,
        "\"name LIKE 'fraud%' AND tags.team = 'risk'\"",
        "name, creation_timestamp or last_updated_timestamp",
    )

    p = command(
        g,
        "versions",
        search_versions,
        "search model versions across models",
        "List versions, across models, matching --filter (fields: name, version_number,\n"
        "run_id, source_path, current_stage, status, description, tags.KEY, alias,\n"
        "dataset.digest, dataset.name, creation_timestamp, last_updated_timestamp); by\n"
        "model name, then newest version first, unless --order-by.\n\n"
        + _GRAMMAR
        + "\n\n"
        + SEARCH_PAGES,
        [
            "registry search versions --filter \"name = 'fraud-detector' AND current_stage = "
            "'Production'\"",
            "registry search versions --filter \"dataset.digest = 'sha256:ab12'\" --all",
            "registry search versions --filter \"tags.validated = 'true'\" "
            "--order-by 'creation_timestamp DESC'",
        ],
    )
    add_search_options(
        p,
        "\"name = 'fraud-detector' AND tags.validated = 'true'\"",
        "name, version_number, creation_timestamp or last_updated_timestamp",
    )


def add_resolve(sub: Any) -> None:
    p = command(
        sub,
        "resolve",
        resolve,
        "resolve a models:/ URI to one version",
        "Resolve a models:/ URI to exactly one READY version and print its pinned form\n"
        "(models:/NAME/VERSION[/PATH]) and the version's details. Accepted forms:\n"
        "  models:/NAME/VERSION   models:/NAME/STAGE   models:/NAME/latest   models:/NAME@ALIAS\n"
        "each optionally followed by /PATH inside the model.",
        [
            "registry resolve models:/fraud-detector@champion",
            "registry resolve models:/fraud-detector/Production/model.pkl",
        ],
    )
    p.add_argument("uri", metavar="URI", help="a models:/ URI")


def resolve(c: RegistryClient, a: argparse.Namespace) -> Result:
    resolved = c.resolve(a.uri)
    return Result(resolved, resolved_text(resolved))


def _page_note(option: str, token: str | None) -> str:
    if not token:
        return ""
    # The token last on the line, shell-quoted: scripts and people can take it as is.
    return f"more results; for the next page add: {option} {shlex.quote(token)}"


def search_models(c: RegistryClient, a: argparse.Namespace) -> Result:
    token: str | None = None
    if a.all:
        found = list(c.iter_registered_models(a.filter, a.order_by, page_size=a.max_results))
    else:
        page = c.search_registered_models(a.filter, a.max_results, a.order_by, a.page_token)
        found, token = list(page), page.token
    return Result(
        {"registered_models": found, "next_page_token": token},
        models_table(found),
        _page_note("--page-token", token),
    )


def search_versions(c: RegistryClient, a: argparse.Namespace) -> Result:
    token: str | None = None
    if a.all:
        found = list(c.iter_model_versions(a.filter, a.order_by, page_size=a.max_results))
    else:
        page = c.search_model_versions(a.filter, a.max_results, a.order_by, a.page_token)
        found, token = list(page), page.token
    return Result(
        {"model_versions": found, "next_page_token": token},
        versions_table(found),
        _page_note("--page-token", token),
    )


def resolved_text(resolved: ResolvedModel) -> str:
    head = key_values([("resolved_uri", resolved.resolved_uri), ("path", resolved.path)])
    return head + "\n\n" + version_text(resolved.model_version)
