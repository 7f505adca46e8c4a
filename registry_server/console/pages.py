"""The pages: each reads through the domain services with the viewer's
Caller, as the matching RPCs do, and renders one template.

Listings are paged with the domain's own keyset tokens (50 rows a page), so
a model with thousands of versions costs one page of rows per view.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from registry_server.console.auth import require_viewer
from registry_server.console.services import ConsoleServices
from registry_server.console.web import render
from registry_server.domain import uri as uris
from registry_server.domain.access import Caller, Role
from registry_server.domain.entities import (
    STAGE_ORDER,
    EventQuery,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry_server.domain.errors import InvalidArgument, NotFound, PermissionDenied
from registry_server.domain.events import EventKind
from registry_server.http.files import serve_file

PAGE_SIZE = 50
MAX_PAGE_TOKEN = 2048

# A query that is one word and no filter: searched as part of a name.
_PLAIN_WORD = re.compile(r"[^\s'\"`=<>!()]+")
_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "ILIKE", "IN"}
MODEL_SORTS = {
    "name": "Name",
    "last_updated_timestamp": "Last update",
    "creation_timestamp": "Created",
}


def quote_filter(value: str) -> str:
    """A string literal of the filter grammar ('' stands for ')."""
    return "'" + value.replace("'", "''") + "'"


def search_filter(query: str) -> str:
    """What the search box means: a plain word matches names containing it
    (case-insensitively); anything else is the filter grammar of
    `registry search models`."""
    query = query.strip()
    if not query:
        return ""
    if _PLAIN_WORD.fullmatch(query) and query.upper() not in _KEYWORDS:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"name ILIKE {quote_filter('%' + escaped + '%')}"
    return query


def _token(request: Request, name: str = "page") -> str:
    value = request.query_params.get(name, "")
    if len(value) > MAX_PAGE_TOKEN:
        raise InvalidArgument("page: the page link is too long")
    return value


def latest_version(model: RegisteredModel) -> int | None:
    return max((v.version for v in model.latest_versions), default=None)


def production_version(model: RegisteredModel) -> int | None:
    found = [v.version for v in model.latest_versions if v.stage is Stage.PRODUCTION]
    return max(found, default=None)


def aliases_by_version(model: RegisteredModel) -> dict[int, list[str]]:
    by: dict[int, list[str]] = {}
    for alias, version in sorted(model.aliases.items()):
        by.setdefault(version, []).append(alias)
    return by


def parse_as_of(value: str) -> int | None:
    """A datetime-local value (read as UTC) as epoch ms; None if empty."""
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"as_of: {value[:40]!r} is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


class Pages:
    def __init__(self, services: ConsoleServices) -> None:
        self.s = services

    # ------------------------------------------------------------------ /

    def index(self, request: Request) -> Response:
        caller = require_viewer(request)
        if isinstance(caller, Response):
            return caller
        query = request.query_params.get("q", "")[:2000]
        sort = request.query_params.get("sort", "name")
        if sort not in MODEL_SORTS:
            sort = "name"
        descending = request.query_params.get("dir", "asc" if sort == "name" else "desc") == "desc"
        error = ""
        models: tuple[RegisteredModel, ...] = ()
        next_token = ""
        try:
            page = self.s.search.search_models(
                search_filter(query),
                [f"{sort} {'DESC' if descending else 'ASC'}"],
                PAGE_SIZE,
                _token(request),
                caller,
            )
            models, next_token = page.items, page.next_page_token
        except InvalidArgument as bad:
            error = bad.message
        rows = [
            {
                "model": m,
                "latest": latest_version(m),
                "production": production_version(m),
                "aliases": sorted(m.aliases.items()),
            }
            for m in models
        ]
        return render(
            request,
            "index.html",
            {
                "title": "Models",
                "query": query,
                "sort": sort,
                "descending": descending,
                "sorts": MODEL_SORTS,
                "rows": rows,
                "next_token": next_token,
                "first_page": not request.query_params.get("page"),
                "error": error,
                "live_name": "",
                "live": True,
            },
            400 if error else 200,
        )

    # --------------------------------------------------------- /models/x

    def model_context(self, request: Request, name: str, caller: Caller) -> dict[str, Any]:
        model = self.s.registry.get_registered_model(name, caller)
        page = self.s.search.search_versions(
            f"name = {quote_filter(name)}",
            ["version_number DESC"],
            PAGE_SIZE,
            _token(request),
            caller,
        )
        grants: list[tuple[str, Role]] | None
        try:
            grants = self.s.grants.list_grants(name, caller)
        except PermissionDenied:
            grants = None  # shown to the model's admins only, as ListModelGrants
        return {
            "title": model.name,
            "model": model,
            "versions": page.items,
            "next_token": page.next_page_token,
            "first_page": not request.query_params.get("page"),
            "aliases": sorted(model.aliases.items()),
            "by_version": aliases_by_version(model),
            "latest": latest_version(model),
            "production": production_version(model),
            "grants": grants,
            "stages": [s.value for s in STAGE_ORDER],
            "live_name": model.name,
            "live": True,
        }

    def model(self, request: Request) -> Response:
        caller = require_viewer(request)
        if isinstance(caller, Response):
            return caller
        name = request.path_params["name"]
        return render(request, "model.html", self.model_context(request, name, caller))

    # ------------------------------------------------- /models/x/versions/n

    def version_context(self, name: str, number: int, caller: Caller) -> dict[str, Any]:
        registry = self.s.registry
        found: ModelVersion = registry.get_model_version(name, number, caller)
        model = registry.get_registered_model(name, caller)
        lineage = self.s.lineage.lineage(name, number, 0, caller)
        files: list[dict[str, Any]] = []
        files_note = ""
        if found.registry_held:
            _, manifest = self.s.artifacts.list(name, number, "", caller)
            presigned: dict[str, str] = {}
            if found.status is VersionStatus.READY and manifest:
                found_urls = self.s.artifacts.download_urls(name, number, [], 900, caller)
                # The side port's own URLs name the address clients use; a
                # browser gets the console's link (below) instead.
                if found_urls.supported and not found_urls.from_registry:
                    presigned = {f.path: url for f, url in found_urls.urls}
            for item in manifest:
                files.append(
                    {
                        "file": item,
                        "url": presigned.get(item.path),
                        "local": found.status is VersionStatus.READY,
                    }
                )
        else:
            files_note = "This version's files are not held by the registry."
        return {
            "title": f"{found.name} v{found.version}",
            "model": model,
            "version": found,
            "lineage": lineage,
            "files": files,
            "files_note": files_note,
            "uris": self.resolving_uris(found, model, caller),
            "stages": [s.value for s in STAGE_ORDER],
            "protected_stages": set(model.protected_stages),
            "live_name": found.name,
            "live": True,
        }

    def resolving_uris(
        self, found: ModelVersion, model: RegisteredModel, caller: Caller
    ) -> list[str]:
        """The models:/ URIs that resolve to this version now, each checked
        by resolving it (only READY versions resolve)."""
        if found.status is not VersionStatus.READY:
            return []
        candidates = [uris.exact(found.name, found.version)]
        candidates += [f"models:/{found.name}@{a}" for a in sorted(found.aliases)]
        if found.stage is not Stage.NONE:
            candidates.append(f"models:/{found.name}/{found.stage.value}")
        candidates.append(f"models:/{found.name}/latest")
        resolving = []
        for candidate in candidates:
            try:
                target, _ = self.s.registry.resolve_model_uri(candidate, caller)
            except (NotFound, InvalidArgument):
                continue
            if target.version == found.version:
                resolving.append(candidate)
        return resolving

    def version(self, request: Request) -> Response:
        caller = require_viewer(request)
        if isinstance(caller, Response):
            return caller
        name, number = request.path_params["name"], request.path_params["version"]
        return render(request, "version.html", self.version_context(name, number, caller))

    def download(self, request: Request) -> Response:
        """A file streamed through the domain (stores without presigned URLs)."""
        caller = require_viewer(request)
        if isinstance(caller, Response):
            return caller
        name, number = request.path_params["name"], request.path_params["version"]
        path = request.path_params["path"]
        return serve_file(request, self.s.artifacts, name, number, path, caller, attachment=True)

    # ------------------------------------------------- /models/x/history

    def history(self, request: Request) -> Response:
        caller = require_viewer(request)
        if isinstance(caller, Response):
            return caller
        name = request.path_params["name"]
        params = request.query_params
        kind = params.get("kind", "")
        alias = params.get("alias", "")[:256].strip()
        try:
            after = int(params.get("after", "0") or 0)
        except ValueError:
            raise InvalidArgument("after: expected an event number") from None
        kinds = (kind,) if kind else ()
        page = self.s.history.list_events(
            EventQuery(
                name=name, kinds=kinds, alias=alias, after_event_id=after, page_size=PAGE_SIZE
            ),
            caller,
        )
        as_of_text = params.get("as_of", "")[:40]
        as_of_ms = parse_as_of(as_of_text)
        state = None
        if as_of_ms is not None:
            state = self.s.history.state_as_of(name, as_of_ms, caller)
        return render(
            request,
            "history.html",
            {
                "title": f"{name}: history",
                "name": name,
                "events": page.events,
                "next_after": page.next_after_event_id,
                "kind": kind,
                "kinds": [k.value for k in EventKind],
                "alias": alias,
                "after": after,
                "as_of": as_of_text,
                "state": state,
                "staged": [v for v in state.versions if v.stage is not Stage.NONE]
                if state is not None
                else [],
                "live_name": name,
                "live": True,
            },
        )
