"""Model versions: create, read, describe, transition, delete, tag."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection

from registry_server.domain import uri as uris
from registry_server.domain import validation
from registry_server.domain._aggregate import Aggregate
from registry_server.domain._change import version_label
from registry_server.domain.access import AccessControl, Caller, Role
from registry_server.domain.entities import (
    CreatedVersion,
    ModelVersion,
    NewModelVersion,
    Stage,
    VersionStatus,
)
from registry_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from registry_server.domain.events import EventKind, version_created
from registry_server.domain.resolve import resolve_in
from registry_server.store import aliases, models, new_version, versions

PROMOTION_STAGES = (Stage.STAGING, Stage.PRODUCTION)


class _Replay(Exception):
    """A create carried an idempotency key that already made a version."""

    def __init__(self, version_id: int) -> None:
        super().__init__(version_id)
        self.version_id = version_id


def version_in(
    conn: Connection,
    name: str,
    version: int,
    access: AccessControl | None = None,
    caller: Caller | None = None,
) -> ModelVersion:
    """The version, read; with `access` and `caller`, only if the caller may
    read its model (else the model's NOT_FOUND, whether the version exists
    or not)."""
    found = versions.get(conn, name, version)
    model_id = found.model_id if found is not None else models.require(conn, name).id
    if access is not None and caller is not None:
        access.require_read(conn, caller, model_id, name)
    if found is None:
        raise NotFound(f"{version_label(name, version)} not found")
    return found


def _initial_status(new: NewModelVersion) -> VersionStatus:
    """Registry-held files are uploaded after the version exists."""
    return VersionStatus.PENDING_REGISTRATION if new.registry_held else VersionStatus.READY


class Versions(Aggregate):
    def create_model_version(self, new: NewModelVersion, caller: Caller) -> CreatedVersion:
        validation.model_name(new.name)
        validation.source(new.source)
        if new.registry_held and new.source:
            raise InvalidArgument(
                "source must be empty with registry_held_artifacts: the registry sets it"
            )
        if new.registry_held and self.store is None:
            raise FailedPrecondition("this server has no artifact store configured")
        validation.description(new.description)
        validation.lineage(new.lineage)
        validation.idempotency_key(new.idempotency_key)
        validation.tag_mapping(new.tags)
        parent = uris.parse(new.lineage.parent_model_uri) if new.lineage.parent_model_uri else None
        try:
            return self._create_version(new, parent, caller)
        except versions.DuplicateIdempotencyKey:
            # Lost a race with a concurrent call carrying the same key: the
            # winner's version is the answer.
            with self.db.read() as conn:
                row = models.require(conn, new.name)
                version_id = versions.id_by_idempotency_key(conn, row.id, new.idempotency_key)
                found = versions.get_by_id(conn, version_id) if version_id else None
            if found is None:
                raise
            return CreatedVersion(found, idempotent_replay=True)

    def _create_version(
        self, new: NewModelVersion, parent: uris.ModelUri | None, caller: Caller
    ) -> CreatedVersion:
        if (
            self.db.dialect == "postgresql"
            and parent is None
            and not new.lineage.datasets
            and self.access.global_role_allows(caller, Role.WRITER)
        ):
            return CreatedVersion(self._create_in_one_statement(new, caller), False)
        try:
            version_id = self._insert_version(new, parent, caller)
            replay = False
        except _Replay as replayed:
            version_id, replay = replayed.version_id, True
        # Read back after the commit, outside the model's lock: other creators
        # of versions of this model wait for that lock, not for this read.
        with self.db.read() as conn:
            created = versions.get_by_id(conn, version_id)
        if created is None:  # deleted in the moment since
            raise NotFound(
                f"the new version of registered model {new.name!r} was deleted meanwhile"
            )
        return CreatedVersion(created, idempotent_replay=replay)

    def _insert_version(
        self, new: NewModelVersion, parent: uris.ModelUri | None, caller: Caller
    ) -> int:
        """The new version's row id, committed (raises _Replay for a known key)."""
        creating = (Role.WRITER, "creating a version")
        with self.changes.new_version(
            new.name, caller, new.idempotency_key or None, creating
        ) as change:
            conn, number = change.conn, change.locked.version
            if change.locked.replay_id is not None:
                # Leaving the block rolls the counter bump back.
                raise _Replay(change.locked.replay_id)
            lineage = new.lineage
            parent_id = None
            if parent is not None:
                parent_version = resolve_in(
                    conn, parent, "lineage.parent_model_uri", self.access, caller
                )
                parent_id = versions.id_of(conn, parent_version)
                lineage = replace(
                    lineage,
                    parent_model_uri=uris.exact(parent_version.name, parent_version.version),
                )
            status = _initial_status(new)
            version_id = versions.insert(
                conn,
                model_id=change.model_id,
                version=number,
                now=change.now,
                source=new.source,
                description=new.description,
                status=status,
                artifacts_held=new.registry_held,
                created_by=caller.principal,
                lineage=lineage,
                parent_version_id=parent_id,
                idempotency_key=new.idempotency_key or None,
                tags=new.tags,
            )
            change.record(
                EventKind.VERSION_CREATED,
                version=number,
                after=version_created(
                    version=number,
                    source=new.source,
                    status=status,
                    lineage=lineage,
                    tags=new.tags,
                ),
            )
            return version_id

    def _create_in_one_statement(self, new: NewModelVersion, caller: Caller) -> ModelVersion:
        """The common case without a transaction around the model's lock (see
        store/new_version.py): no parent to resolve, no data sets, and a
        caller whose role needs no per-model grant. The statement takes the
        lock and the time together, as UnitOfWork.new_version does. Answered
        from what was written, as a read back would show it: a new version
        has no aliases yet, and everything else the caller sent or the
        statement returned. A key already used raises
        DuplicateIdempotencyKey (create_model_version answers the replay)."""
        status = _initial_status(new)
        with self.db.statement() as conn:
            created = new_version.create(
                conn,
                name=new.name,
                now=self.changes.clock(),
                source=new.source,
                description=new.description,
                status=status,
                artifacts_held=new.registry_held,
                created_by=caller.principal,
                lineage=new.lineage,
                idempotency_key=new.idempotency_key or None,
                tags=new.tags,
                event_kind=EventKind.VERSION_CREATED,
                timeouts=self.db.local_timeouts(),
                event_after=version_created(
                    source=new.source, status=status, lineage=new.lineage, tags=new.tags
                ),
            )
        if created is None:
            raise NotFound(f"registered model {new.name!r} not found")
        return ModelVersion(
            model_id=created.model_id,
            name=new.name,
            version=created.version,
            creation_timestamp=created.creation_ms,
            last_updated_timestamp=created.creation_ms,
            description=new.description,
            # Registry-held files are addressed by the version (store/rows.py).
            source=new.source
            or (uris.exact(new.name, created.version) if new.registry_held else ""),
            stage=Stage.NONE,
            status=status,
            status_message="",
            created_by=caller.principal,
            lineage=new.lineage,
            tags=dict(sorted(new.tags.items())),
            registry_held=new.registry_held,
        )

    def get_model_version(self, name: str, version: int, caller: Caller) -> ModelVersion:
        validation.model_name(name)
        validation.version_number(version)
        with self.db.read() as conn:
            return version_in(conn, name, version, self.access, caller)

    def update_model_version(
        self, name: str, version: int, description: str, caller: Caller
    ) -> ModelVersion:
        validation.model_name(name)
        validation.version_number(version)
        validation.description(description)
        updating = (Role.WRITER, "updating a version")
        with self.changes.version(name, version, caller, updating) as change:
            row = change.locked
            versions.set_description(change.conn, row.id, description, change.now)
            change.record(
                EventKind.VERSION_UPDATED,
                version=version,
                before={"description": row.description},
                after={"description": description},
            )
            updated = versions.get_by_id(change.conn, row.id)
            assert updated is not None
            return updated

    def delete_model_version(self, name: str, version: int, caller: Caller) -> None:
        validation.model_name(name)
        validation.version_number(version)
        deleting = (Role.ADMIN, "deleting a version")
        with self.changes.version(name, version, caller, deleting) as change:
            row = change.locked
            for alias in aliases.remove_for_version(change.conn, row.id):
                change.record(
                    EventKind.ALIAS_DELETED,
                    version=version,
                    before={"alias": alias, "version": version},
                    after={"reason": "version deleted"},
                )
            versions.remove(change.conn, row.id)
            change.touch_model()
            change.record(
                EventKind.VERSION_DELETED,
                version=version,
                before={"version": version, "stage": row.stage, "status": row.status},
            )
        if row.artifacts_held:
            self.delete_version_objects(change.model_id, version)

    def transition_model_version_stage(
        self, name: str, version: int, stage: str, archive_existing_versions: bool, caller: Caller
    ) -> ModelVersion:
        validation.model_name(name)
        validation.version_number(version)
        target = validation.stage(stage)
        if archive_existing_versions and target not in PROMOTION_STAGES:
            raise InvalidArgument(
                "archive_existing_versions is only allowed with stage Staging or Production, "
                f"not {target.value}"
            )
        with self.changes.full_version(
            name, version, caller, (Role.WRITER, "transitioning a version")
        ) as change:
            version_id, found = change.locked.version_id, change.locked.version
            change.authorise_stage_change(
                # Archiving the stage's other holders moves them into Archived.
                [found.stage, target, *([Stage.ARCHIVED] if archive_existing_versions else [])],
                "transitioning a version",
            )
            if target in PROMOTION_STAGES and found.status is not VersionStatus.READY:
                raise FailedPrecondition(
                    f"{version_label(name, version)} is {found.status.value}; only READY "
                    f"versions can move to {target.value}"
                )
            if found.stage is not target:
                versions.set_stage(change.conn, version_id, target, change.now)
                change.record(
                    EventKind.VERSION_STAGE_CHANGED,
                    version=version,
                    before={"stage": found.stage.value},
                    after={"stage": target.value},
                )
                found = replace(found, stage=target, last_updated_timestamp=change.now)
            if archive_existing_versions:
                for archived in versions.archive_stage_holders(
                    change.conn, change.model_id, target, version_id, change.now
                ):
                    change.record(
                        EventKind.VERSION_STAGE_CHANGED,
                        version=archived,
                        before={"stage": target.value},
                        after={
                            "stage": Stage.ARCHIVED.value,
                            "reason": f"version {version} moved to {target.value}",
                        },
                    )
            change.touch_model()
            # Nothing else about the version changed in this transaction: it
            # was read in full under the lock.
            return found

    def set_model_version_tag(
        self, name: str, version: int, key: str, value: str, caller: Caller
    ) -> None:
        validation.model_name(name)
        validation.version_number(version)
        validation.tag_key(key)
        validation.tag_value(value)
        setting = (Role.WRITER, "setting a version tag")
        with self.changes.version(name, version, caller, setting) as change:
            version_id = change.locked.id
            existing = versions.tags_of(change.conn, version_id)
            validation.tag_fits(existing, key, value, version_label(name, version))
            old = existing.get(key)
            versions.set_tag(change.conn, version_id, key, value)
            versions.touch(change.conn, version_id, change.now)
            change.record(
                EventKind.VERSION_TAG_SET,
                version=version,
                before={} if old is None else {"key": key, "value": old},
                after={"key": key, "value": value},
            )

    def delete_model_version_tag(self, name: str, version: int, key: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.version_number(version)
        validation.tag_key(key)
        deleting = (Role.WRITER, "deleting a version tag")
        with self.changes.version(name, version, caller, deleting) as change:
            version_id = change.locked.id
            old = versions.get_tag(change.conn, version_id, key)
            if old is None:
                raise NotFound(f"key: {version_label(name, version)} has no tag {key!r}")
            versions.delete_tag(change.conn, version_id, key)
            versions.touch(change.conn, version_id, change.now)
            change.record(
                EventKind.VERSION_TAG_DELETED, version=version, before={"key": key, "value": old}
            )
