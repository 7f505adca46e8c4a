"""models:/ URIs resolved to versions: the read the deployment path repeats."""

from __future__ import annotations

from sqlalchemy import Connection

from registry_server.domain import uri as uris
from registry_server.domain._aggregate import Aggregate
from registry_server.domain._change import version_label
from registry_server.domain.access import AccessControl, Caller, model_not_found
from registry_server.domain.entities import ModelVersion, VersionStatus
from registry_server.domain.errors import NotFound
from registry_server.store import models, versions


def resolve_in(
    conn: Connection,
    parsed: uris.ModelUri,
    field: str,
    access: AccessControl | None = None,
    caller: Caller | None = None,
) -> ModelVersion:
    """One indexed query on the hit path; the miss path explains itself.

    With `access` and `caller`, a model the caller may not read answers as a
    missing one, whatever the URI selects in it, before anything about its
    versions is said."""
    name = parsed.name

    def hide(model_id: int) -> None:
        if access is not None and caller is not None:
            access.require_read(conn, caller, model_id, name, model_not_found(name, field))

    ready = VersionStatus.READY
    found: ModelVersion | None
    if parsed.selector is uris.Selector.VERSION:
        assert parsed.version is not None
        found = versions.get(conn, name, parsed.version)
        if found is not None:
            hide(found.model_id)
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
        row = models.get(conn, name)
        if row is None:
            raise model_not_found(name, field)
        hide(row.id)
        raise NotFound(f"{field}: {missing}")
    hide(found.model_id)
    return found


class Resolve(Aggregate):
    def resolve_model_uri(self, uri: str, caller: Caller) -> tuple[ModelVersion, str]:
        parsed = uris.parse(uri)
        with self.db.read() as conn:
            found = resolve_in(conn, parsed, "uri", self.access, caller)
            return found, parsed.path
