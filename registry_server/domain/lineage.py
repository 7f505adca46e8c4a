"""Lineage queries: a version's ancestors and descendants through parent links.

Every version appears whatever its status (PENDING_REGISTRATION and
FAILED_REGISTRATION included, each carrying its status): lineage records
what was derived from what, and hiding a failed fine-tune would hide that its
children exist. Callers that only want usable versions filter on status.
"""

from __future__ import annotations

from registry_server.domain import validation
from registry_server.domain._change import version_label
from registry_server.domain.access import AccessControl, Caller
from registry_server.domain.entities import VersionLineage
from registry_server.domain.errors import InvalidArgument, NotFound
from registry_server.store import lineage as walks
from registry_server.store import models
from registry_server.store.database import Database

DEFAULT_DEPTH = 100
MAX_DEPTH = 100
MAX_DESCENDANTS = 1000


class LineageService:
    """GetModelVersionLineage: two queries (one per direction), any depth."""

    def __init__(self, db: Database, access: AccessControl | None = None) -> None:
        self.db = db
        self.access = access or AccessControl(db)

    def lineage(self, name: str, version: int, max_depth: int, caller: Caller) -> VersionLineage:
        """The version, its ancestors (parent first) and its descendants
        (nearest generation first, then model name and version), each way up
        to `max_depth` links, at most 1,000 descendants; `truncated` says a
        bound cut something off."""
        validation.model_name(name)
        validation.version_number(version)
        depth = self._depth(max_depth)
        with self.db.read() as conn:
            chain = walks.with_ancestors(conn, name, version, depth)
            if not chain:
                self.access.require_read(conn, caller, models.require(conn, name).id, name)
                raise NotFound(f"{version_label(name, version)} not found")
            self.access.require_read(conn, caller, chain[0].version.model_id, name)
            below = walks.descendants(conn, chain[0].version_id, depth, MAX_DESCENDANTS)
            # Links into models the caller may not read are left out (after
            # the bounds are judged on the full walk).
            readable = {
                model_id: self.access.can_read(conn, caller, model_id)
                for model_id in {v.version.model_id for v in (*chain, *below)}
            }
        ancestors = chain[1:]
        # The deepest ancestor still has a parent only if max_depth stopped the walk.
        cut_above = len(ancestors) == depth and ancestors[-1].has_parent
        kept = [d for d in below if d.depth <= depth][:MAX_DESCENDANTS]
        return VersionLineage(
            version=chain[0].version,
            ancestors=tuple(a.version for a in ancestors if readable[a.version.model_id]),
            descendants=tuple(d.version for d in kept if readable[d.version.model_id]),
            truncated=cut_above or len(kept) < len(below),
        )

    @staticmethod
    def _depth(max_depth: int) -> int:
        if max_depth == 0:
            return DEFAULT_DEPTH
        if not 1 <= max_depth <= MAX_DEPTH:
            raise InvalidArgument(
                f"max_depth: must be between 1 and {MAX_DEPTH} (0 means {DEFAULT_DEPTH}), "
                f"got {max_depth}"
            )
        return max_depth
