"""`registry-server gc`: give up on abandoned pending versions, then delete
objects no version owns.

A server killed mid-upload (SIGKILL, OOM, a lost node) leaves the version it
was uploading PENDING_REGISTRATION for good: its client can neither finalize
nor abort it, and its files stay in the store, owned. gc takes a version as
abandoned when it has shown no sign of life (its creation, the start of its
newest file upload) for at least the pending age, and marks it
FAILED_REGISTRATION, as `AbortModelVersion` would:

- FAILED, not deleted: the version number stays taken (numbers never have
  gaps and are never reused), and the history keeps what happened to it;
- in the unit of work every change runs in (domain/_change.py): under the
  model's lock, with its `version_status_changed` event (actor
  `registry-server gc`) in the same transaction;
- conditionally: under that lock the version must still be pending and still
  idle since the listing's cutoff, so one that was finalized, aborted,
  deleted or received a new upload between the listing and the change is left
  alone (an upload's file is reserved under the same lock, so none can start
  unseen while gc decides);
- its file rows go in that transaction and its objects (partial ones
  included) right after the commit; objects a failed delete leaves behind are
  orphans, which the sweep that follows removes.

The age must be longer than any upload can legitimately take: an upload that
runs longer than that (one huge file on a slow link) is failed under its
client, which then gets FAILED_PRECONDITION as if the version were aborted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from registry_server.artifacts.base import ArtifactStore
from registry_server.domain.access import Caller, Role
from registry_server.domain.artifacts import ArtifactService
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.entities import VersionStatus
from registry_server.domain.errors import NotFound
from registry_server.domain.events import EventKind
from registry_server.domain.registry import Registry
from registry_server.store import files, integrity, versions
from registry_server.store.database import Database

log = logging.getLogger(__name__)

#: Who the history says changed an abandoned version.
GC_ACTOR = "registry-server gc"
#: The default pending age: far longer than an upload takes, short enough
#: that a day's crashed uploads are gone by the next day's run.
DEFAULT_PENDING_AGE_MS = 24 * 3600 * 1000


def describe_age(ms: int) -> str:
    """``1d 2h``, ``3h 0m``, ``5m 6s``, ``7s``: the largest unit and the next."""
    seconds = max(ms, 0) // 1000
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for i, (unit, size) in enumerate(units):
        if seconds >= size or unit == "s":
            text = f"{seconds // size}{unit}"
            if unit != "s":
                smaller, below = units[i + 1]
                text += f" {seconds % size // below}{smaller}"
            return text
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class AbandonedVersion:
    """A pending version with no sign of life for at least the pending age."""

    model: str
    version: int
    created_by: str
    #: How long it had shown no sign of life when gc listed it.
    idle_ms: int
    #: Its file rows (uploaded or interrupted) when listed.
    files: int
    model_id: int = field(repr=False)
    version_id: int = field(repr=False)


@dataclass(frozen=True, slots=True)
class GcReport:
    """What one gc run found and did (or, in a dry run, would do)."""

    dry_run: bool
    pending_age_ms: int
    #: Listed (dry run) or marked FAILED_REGISTRATION.
    abandoned: list[AbandonedVersion]
    #: Listed, then left alone: changed between the listing and the change.
    spared: list[AbandonedVersion]
    #: Objects no version owns, listed (dry run) or deleted.
    orphans: list[str]
    store: str


class GarbageCollector:
    """The gc run. `clock` is what ages are measured against (tests move it)."""

    def __init__(
        self,
        db: Database,
        store: ArtifactStore,
        *,
        clock: Clock = now_ms,
        actor: str = GC_ACTOR,
    ) -> None:
        self.store = store
        self.clock = clock
        self.registry = Registry(db, store, clock=clock)
        self.artifacts = ArtifactService(db, store, self.registry)
        # The CLI works on the database itself: it may change any model, as
        # `registry-server tokens` may create any token.
        self.caller = Caller.unauthenticated(actor)

    def abandoned(self, idle_since_ms: int) -> list[AbandonedVersion]:
        """Pending versions with no sign of life after ``idle_since_ms``."""
        now = self.clock()
        with self.registry.db.read() as conn:
            found = integrity.idle_pending_versions(conn, idle_since_ms=idle_since_ms)
        return [
            AbandonedVersion(
                model=v.model_name,
                version=v.version,
                created_by=v.created_by,
                idle_ms=now - v.last_activity,
                files=v.files,
                model_id=v.model_id,
                version_id=v.version_id,
            )
            for v in found
        ]

    def fail(self, found: AbandonedVersion, idle_since_ms: int, age_ms: int) -> bool:
        """Mark ``found`` FAILED_REGISTRATION and remove its files, if under
        the model's lock it is still the same version, still pending and still
        idle since ``idle_since_ms``; False when it was left alone."""
        reason = (
            f"abandoned: no upload activity for {describe_age(age_ms)} or more; "
            f"marked failed by {self.caller.principal}"
        )
        failing = (Role.WRITER, "failing an abandoned pending version")
        try:
            with self.registry.changes.version(
                found.model, found.version, self.caller, failing
            ) as change:
                conn, row = change.conn, change.locked
                pending = VersionStatus.PENDING_REGISTRATION.value
                if row.id != found.version_id or row.status != pending:
                    return False  # finalized, aborted, or deleted and renumbered
                activity = integrity.last_activity(conn, row.id)
                if activity is None or activity > idle_since_ms:
                    return False  # an upload started since the listing
                failed = VersionStatus.FAILED_REGISTRATION
                versions.set_status(conn, row.id, failed, reason, change.now)
                files.remove_all(conn, row.id)
                change.record(
                    EventKind.VERSION_STATUS_CHANGED,
                    version=found.version,
                    before={"status": pending},
                    after={"status": failed.value, "reason": reason},
                )
                model_id = change.model_id
        except NotFound:
            return False  # the model was renamed or deleted, or the version deleted
        self.registry.delete_version_objects(model_id, found.version)
        return True

    def collect(self, *, pending_age_ms: int, dry_run: bool = False) -> GcReport:
        """Abandoned pending versions first (their objects go with them), then
        the orphan sweep, which also catches what their deletes left."""
        if pending_age_ms < 0:
            raise ValueError("the pending age must not be negative")
        idle_since_ms = self.clock() - pending_age_ms
        listed = self.abandoned(idle_since_ms)
        abandoned, spared = [], []
        for item in listed:
            if dry_run or self.fail(item, idle_since_ms, pending_age_ms):
                abandoned.append(item)
            else:
                log.info("left %s v%s alone: it changed while gc ran", item.model, item.version)
                spared.append(item)
        orphans = self.artifacts.collect_garbage(dry_run=dry_run)
        return GcReport(
            dry_run=dry_run,
            pending_age_ms=pending_age_ms,
            abandoned=abandoned,
            spared=spared,
            orphans=orphans,
            store=self.store.describe(),
        )
