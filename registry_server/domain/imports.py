"""The import path: models, versions and aliases brought in from another
registry (`registry import mlflow`) with their original numbers, times and
creators.

It is for global admins only, and it only ever creates:
- a model is created when its name is free; an existing one is returned
  untouched (`created` False);
- a version is created with the number it had when that number is free, and
  the model's counter becomes max(counter, number), so numbers the other
  registry deleted stay gaps and new versions continue after the highest (a
  number this registry used and deleted stays deleted: FAILED_PRECONDITION).
  An
  existing version with that number is compared on what never changes after
  creation (creation time, creator, registry-held files or source, run id):
  the same version is reported as already imported, whatever happened to its
  stage, tags or description here since; a different one is ALREADY_EXISTS.
  Nothing in this module updates an existing row;
- an alias is created when the model has none of that name; one pointing at
  the same version is already imported, one pointing elsewhere is never moved.

Each goes through the unit of work (domain/_change.py) and records one
`imported` event in its own transaction. The event's timestamp is the
import's (the time it committed here, like every other event: the history's
times follow commit order, and GetModelStateAsOf for a moment before the
import answers that the model did not exist here yet). The original creation
time and creator are in the event's payload (`original_creation_timestamp`,
`original_created_by`) and in the rows themselves (creation_timestamp,
created_by), so nothing pretends it happened at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from registry_server.domain import validation
from registry_server.domain._aggregate import Aggregate
from registry_server.domain._change import version_label
from registry_server.domain.access import Caller, Role
from registry_server.domain.entities import (
    Lineage,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry_server.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
)
from registry_server.domain.events import EventKind
from registry_server.domain.models import load_model
from registry_server.store import aliases, imports, models, versions

MODEL, VERSION, ALIAS = "registered_model", "model_version", "alias"


@dataclass(frozen=True, slots=True)
class ModelImport:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int = 0
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_by: str = ""
    imported_from: str = ""


@dataclass(frozen=True, slots=True)
class VersionImport:
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int = 0
    source: str = ""
    lineage: Lineage = field(default_factory=Lineage)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    stage: str = ""
    status: VersionStatus = VersionStatus.READY
    status_message: str = ""
    created_by: str = ""
    registry_held: bool = False
    imported_from: str = ""


def _times(created: int, updated: int) -> tuple[int, int]:
    if created <= 0:
        raise InvalidArgument(
            f"creation_timestamp: must be a positive number of ms since the epoch, got {created}"
        )
    if updated < 0:
        raise InvalidArgument(f"last_updated_timestamp: must not be negative, got {updated}")
    return created, max(created, updated)


def _provenance(created_by: str, imported_from: str) -> None:
    if created_by:
        validation.short(created_by, "created_by")
    validation.source(imported_from, "imported_from")


def _differences(found: ModelVersion, new: VersionImport, created: int) -> list[str]:
    """What tells a different version from the one being imported: the facts
    fixed at creation (the mutable ones may have changed here since)."""
    differ = []
    if found.creation_timestamp != created:
        differ.append(f"creation_timestamp {found.creation_timestamp} != {created}")
    if found.created_by != new.created_by:
        differ.append(f"created_by {found.created_by!r} != {new.created_by!r}")
    if found.registry_held != new.registry_held:
        differ.append(f"registry_held_artifacts {found.registry_held} != {new.registry_held}")
    elif not new.registry_held and found.source != new.source:
        differ.append(f"source {found.source!r} != {new.source!r}")
    if found.lineage.run_id != new.lineage.run_id:
        differ.append(f"run_id {found.lineage.run_id!r} != {new.lineage.run_id!r}")
    return differ


class Imports(Aggregate):
    def import_registered_model(
        self, new: ModelImport, caller: Caller
    ) -> tuple[RegisteredModel, bool]:
        """The model and whether this call created it."""
        self.access.require_global(caller, Role.ADMIN, "importing a registered model")
        validation.model_name(new.name)
        validation.description(new.description)
        validation.tag_mapping(new.tags)
        created, updated = _times(new.creation_timestamp, new.last_updated_timestamp)
        _provenance(new.created_by, new.imported_from)
        with self.db.read() as conn:
            if models.get(conn, new.name) is not None:
                return load_model(conn, new.name), False
        try:
            with self.changes.unlocked(caller.principal, model_name=new.name) as change:
                change.model_id = imports.insert_model(
                    change.conn,
                    name=new.name,
                    description=new.description,
                    tags=new.tags,
                    created_by=new.created_by,
                    created=created,
                    updated=updated,
                )
                change.record(
                    EventKind.IMPORTED,
                    after={
                        "imported": MODEL,
                        "name": new.name,
                        "description": new.description,
                        "tags": new.tags,
                        "original_created_by": new.created_by,
                        "original_creation_timestamp": created,
                        "original_last_updated_timestamp": updated,
                        "imported_from": new.imported_from,
                    },
                )
                return load_model(change.conn, new.name), True
        except AlreadyExists:
            # Created meanwhile by someone else: it exists, left as it is.
            with self.db.read() as conn:
                return load_model(conn, new.name), False

    def import_model_version(self, new: VersionImport, caller: Caller) -> tuple[ModelVersion, bool]:
        """The version and whether it was already imported (nothing changed)."""
        self.access.require_global(caller, Role.ADMIN, "importing a version")
        validation.model_name(new.name)
        validation.version_number(new.version)
        validation.source(new.source)
        validation.description(new.description)
        validation.tag_mapping(new.tags)
        validation.lineage(new.lineage)
        if new.lineage.parent_model_uri or new.lineage.datasets:
            raise InvalidArgument("lineage: a parent_model_uri or data sets are not imported")
        stage = validation.stage(new.stage) if new.stage else Stage.NONE
        validation.source(new.status_message, "status_message")
        created, updated = _times(new.creation_timestamp, new.last_updated_timestamp)
        _provenance(new.created_by, new.imported_from)
        status = new.status
        if new.registry_held:
            if status is not VersionStatus.READY:
                raise InvalidArgument(
                    "status: with registry_held_artifacts the version becomes READY when "
                    "its files are finalized; import only READY versions that way"
                )
            if self.store is None:
                raise FailedPrecondition("this server has no artifact store configured")
            status = VersionStatus.PENDING_REGISTRATION
        elif status is VersionStatus.PENDING_REGISTRATION:
            raise InvalidArgument(
                "status: a pending version is not imported (its files are not registered "
                "yet); import it once it is READY"
            )
        label = version_label(new.name, new.version)
        with self.changes.model(new.name, caller, (Role.ADMIN, "importing a version")) as change:
            found = versions.get(change.conn, new.name, new.version)
            if found is not None:
                differ = _differences(found, new, created)
                if differ:
                    raise AlreadyExists(
                        f"version: {label} exists and is a different version "
                        f"({'; '.join(differ)}); nothing changed"
                    )
                return found, True
            if new.version <= change.locked.last_version and imports.number_was_used(
                change.conn, change.model_id, new.version
            ):
                raise FailedPrecondition(
                    f"version: {label} existed here and was deleted; version numbers are "
                    "never reused"
                )
            version_id = imports.insert_version(
                change.conn,
                model_id=change.model_id,
                version=new.version,
                created=created,
                updated=updated,
                # Registry-held: the registry's own URI (store/rows.py), the
                # original location is in the event.
                source="" if new.registry_held else new.source,
                description=new.description,
                stage=stage,
                status=status,
                status_message=new.status_message,
                created_by=new.created_by,
                lineage=new.lineage,
                tags=new.tags,
                artifacts_held=new.registry_held,
            )
            imports.raise_counter(change.conn, change.model_id, new.version)
            change.record(
                EventKind.IMPORTED,
                version=new.version,
                after={
                    "imported": VERSION,
                    "version": new.version,
                    "original_source": new.source,
                    "run_id": new.lineage.run_id,
                    "stage": stage.value,
                    "status": status.value,
                    "tags": new.tags,
                    "registry_held_artifacts": new.registry_held,
                    "original_created_by": new.created_by,
                    "original_creation_timestamp": created,
                    "original_last_updated_timestamp": updated,
                    "imported_from": new.imported_from,
                },
            )
            imported = versions.get_by_id(change.conn, version_id)
            assert imported is not None
            return imported, False

    def import_registered_model_alias(
        self, name: str, alias: str, version: int, imported_from: str, caller: Caller
    ) -> tuple[ModelVersion, bool]:
        """The version the alias points at and whether it already did."""
        self.access.require_global(caller, Role.ADMIN, "importing an alias")
        validation.model_name(name)
        validation.alias(alias)
        validation.version_number(version)
        _provenance("", imported_from)
        with self.changes.full_version(
            name, version, caller, (Role.ADMIN, "importing an alias")
        ) as change:
            change.authorise(Role.ADMIN, "importing an alias")
            found = change.locked.version
            current = aliases.current_version(change.conn, change.model_id, alias)
            if current == version:
                return found, True
            if current is not None:
                raise FailedPrecondition(
                    f"alias: {alias!r} of {name!r} points at version {current}, not {version}; "
                    "an import never moves an alias"
                )
            if found.status is not VersionStatus.READY:
                raise FailedPrecondition(
                    f"{version_label(name, version)} is {found.status.value}; "
                    "only READY versions can carry aliases"
                )
            aliases.point(change.conn, change.model_id, alias, change.locked.version_id)
            change.record(
                EventKind.IMPORTED,
                version=version,
                after={
                    "imported": ALIAS,
                    "alias": alias,
                    "version": version,
                    "imported_from": imported_from,
                },
            )
            # Read in full under the lock; only its alias list changed since.
            return replace(found, aliases=tuple(sorted({*found.aliases, alias}))), False
