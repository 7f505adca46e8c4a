"""models:/ URIs resolved to versions: the read the deployment path repeats."""

from __future__ import annotations

from sqlalchemy import Connection

from registry_server.domain import uri as uris
from registry_server.domain._aggregate import Aggregate
from registry_server.domain._change import version_label
from registry_server.domain.access import Caller
from registry_server.domain.entities import ModelVersion, VersionStatus
from registry_server.domain.errors import NotFound
from registry_server.store import models, versions


def resolve_in(conn: Connection, parsed: uris.ModelUri, field: str) -> ModelVersion:
    """One indexed query on the hit path; the miss path explains itself."""
    name = parsed.name
    ready = VersionStatus.READY
    found: ModelVersion | None
    if parsed.selector is uris.Selector.VERSION:
        assert parsed.version is not None
        found = versions.get(conn, name, parsed.version)
        if found is not None and found.status is not ready:
            raise NotFound(
                f"{field}: {version_label(name, parsed.version)} is "
                f"{found.status.value}; only READY versions resolve"
            )
        missing = f"{version_label(name, parsed.version)} not found"
    elif parsed.selector is uris.Selector.LATEST:
        found = versions.latest(conn, name, status=ready)
        missing = f"registered model {name!r} has no READY version"
    elif parsed.selector is uris.Selector.STAGE:
        assert parsed.stage is not None
        found = versions.latest(conn, name, stage=parsed.stage, status=ready)
        missing = f"registered model {name!r} has no READY version in stage {parsed.stage}"
    else:
        assert parsed.alias is not None
        found = versions.get_by_alias(conn, name, parsed.alias)
        missing = f"registered model {name!r} has no alias {parsed.alias!r}"
    if found is None:
        if models.get(conn, name) is None:
            raise NotFound(f"{field}: registered model {name!r} not found")
        raise NotFound(f"{field}: {missing}")
    return found


class Resolve(Aggregate):
    def resolve_model_uri(self, uri: str, caller: Caller) -> tuple[ModelVersion, str]:
        parsed = uris.parse(uri)
        with self.db.read() as conn:
            found = resolve_in(conn, parsed, "uri")
            self.access.require_read(conn, caller, found.model_id, found.name)
            return found, parsed.path
