"""The registry's use cases: each public method is one transaction.

This layer decides (validation, state rules, which events to record); the
store executes SQL; the API layer translates. Every mutation locks the model's
row first, so all changes to one model and its versions are serialised in the
database: concurrent stage transitions, alias moves and version creations on a
model are race-free on PostgreSQL under READ COMMITTED and on SQLite, while
different models proceed in parallel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from registry_server.artifacts.base import ArtifactStore, model_prefix, version_prefix
from registry_server.domain import uri as uris
from registry_server.domain import validation
from registry_server.domain.access import AccessControl, Caller, Role
from registry_server.domain.clock import now_ms
from registry_server.domain.entities import (
    STAGE_ORDER,
    AliasMove,
    CreatedVersion,
    ModelVersion,
    NewModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from registry_server.store import access as access_store
from registry_server.store import aliases, events, models, new_version, versions
from registry_server.store.database import Database

log = logging.getLogger(__name__)

PROMOTION_STAGES = (Stage.STAGING, Stage.PRODUCTION)


class _Replay(Exception):
    """A create carried an idempotency key that already made a version."""

    def __init__(self, version_id: int) -> None:
        super().__init__(version_id)
        self.version_id = version_id


def version_label(name: str, version: int) -> str:
    return f"version {version} of registered model {name!r}"


class Registry:
    """Entry point of the domain; the servicer holds one."""

    def __init__(
        self,
        db: Database,
        store: ArtifactStore | None = None,
        access: AccessControl | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.access = access or AccessControl(db)

    def _delete_objects(self, prefix: str) -> None:
        """After the commit that disowned them; a failure leaves orphans that
        `registry-server gc` removes later, never a version without files."""
        if self.store is None:
            return
        try:
            self.store.delete_prefix(prefix)
        except Exception:
            log.warning("could not delete %s; `registry-server gc` will", prefix, exc_info=True)

    def delete_version_objects(self, model_id: int, version: int) -> None:
        self._delete_objects(version_prefix(model_id, version))

    # ------------------------------------------------------------------ models

    def create_registered_model(
        self, name: str, description: str, tags: dict[str, str], caller: Caller
    ) -> RegisteredModel:
        validation.model_name(name)
        validation.description(description)
        validation.tag_mapping(tags)
        self.access.require_global(caller, Role.WRITER, "creating a registered model")
        now = now_ms()
        with self.db.write() as conn:
            model_id = models.insert(
                conn, name=name, description=description, created_by=caller.principal, now=now
            )
            for key, value in tags.items():
                models.set_tag(conn, model_id, key, value)
            events.record(
                conn,
                model_id=model_id,
                model_name=name,
                kind="model_created",
                actor=caller.principal,
                now=now,
                after={"name": name, "description": description, "tags": tags},
            )
            return self._load_model(conn, name)

    def get_registered_model(self, name: str, caller: Caller) -> RegisteredModel:
        validation.model_name(name)
        with self.db.read() as conn:
            model = self._load_model(conn, name)
            self.access.require_read(conn, caller, model.id, name)
            return model

    def _load_model(self, conn: Connection, name: str) -> RegisteredModel:
        row = models.require(conn, name)
        protected_aliases, protected_stages = access_store.protections(conn, row.id)
        return RegisteredModel(
            id=row.id,
            name=row.name,
            description=row.description,
            creation_timestamp=row.creation_time,
            last_updated_timestamp=row.last_updated_time,
            last_version=row.last_version,
            created_by=row.created_by,
            tags=models.tags(conn, row.id),
            aliases=aliases.of_model(conn, row.id),
            latest_versions=tuple(versions.latest_per_stage(conn, row.id)),
            protected_aliases=tuple(protected_aliases),
            protected_stages=tuple(protected_stages),
        )

    def update_registered_model(
        self, name: str, description: str, caller: Caller
    ) -> RegisteredModel:
        validation.model_name(name)
        validation.description(description)
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            self.access.require(conn, caller, row.id, name, Role.WRITER, "updating the description")
            models.set_description(conn, row.id, description, now)
            events.record(
                conn,
                model_id=row.id,
                model_name=name,
                kind="model_updated",
                actor=caller.principal,
                now=now,
                before={"description": row.description},
                after={"description": description},
            )
            return self._load_model(conn, name)

    def rename_registered_model(self, name: str, new_name: str, caller: Caller) -> RegisteredModel:
        validation.model_name(name)
        validation.model_name(new_name, "new_name")
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            self.access.require(conn, caller, row.id, name, Role.ADMIN, "renaming")
            if new_name != name:
                models.rename(conn, row.id, new_name, now)
                events.record(
                    conn,
                    model_id=row.id,
                    model_name=new_name,
                    kind="model_renamed",
                    actor=caller.principal,
                    now=now,
                    before={"name": name},
                    after={"name": new_name},
                )
            return self._load_model(conn, new_name)

    def delete_registered_model(self, name: str, caller: Caller) -> None:
        validation.model_name(name)
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            self.access.require(conn, caller, row.id, name, Role.ADMIN, "deleting")
            before = {
                "name": name,
                "last_version": row.last_version,
                "aliases": aliases.of_model(conn, row.id),
            }
            models.remove(conn, row.id)
            events.record(
                conn,
                model_id=row.id,
                model_name=name,
                kind="model_deleted",
                actor=caller.principal,
                now=now,
                before=before,
            )
        self._delete_objects(model_prefix(row.id))

    def set_registered_model_tag(self, name: str, key: str, value: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.tag_key(key)
        validation.tag_value(value)
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            self.access.require(conn, caller, row.id, name, Role.WRITER, "setting a tag")
            old = models.get_tag(conn, row.id, key)
            models.set_tag(conn, row.id, key, value)
            models.touch(conn, row.id, now)
            events.record(
                conn,
                model_id=row.id,
                model_name=name,
                kind="model_tag_set",
                actor=caller.principal,
                now=now,
                before={} if old is None else {"key": key, "value": old},
                after={"key": key, "value": value},
            )

    def delete_registered_model_tag(self, name: str, key: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.tag_key(key)
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            self.access.require(conn, caller, row.id, name, Role.WRITER, "deleting a tag")
            old = models.get_tag(conn, row.id, key)
            if old is None:
                raise NotFound(f"key: registered model {name!r} has no tag {key!r}")
            models.delete_tag(conn, row.id, key)
            models.touch(conn, row.id, now)
            events.record(
                conn,
                model_id=row.id,
                model_name=name,
                kind="model_tag_deleted",
                actor=caller.principal,
                now=now,
                before={"key": key, "value": old},
            )

    def get_latest_versions(
        self, name: str, stages: Sequence[str], caller: Caller
    ) -> list[ModelVersion]:
        validation.model_name(name)
        wanted = [validation.stage(s, f"stages[{i}]") for i, s in enumerate(stages)]
        with self.db.read() as conn:
            row = models.require(conn, name)
            self.access.require_read(conn, caller, row.id, name)
            return versions.latest_per_stage(conn, row.id, wanted or STAGE_ORDER)

    # ---------------------------------------------------------------- versions

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
        if (
            self.db.dialect == "postgresql"
            and parent is None
            and not new.lineage.datasets
            and caller.role >= Role.WRITER
        ):
            return self._insert_version_in_one_statement(new, caller)
        with self.db.write() as conn:
            allocated = models.lock_and_allocate(
                conn, new.name, now_ms(), new.idempotency_key or None
            )
            if allocated is None:
                raise NotFound(f"registered model {new.name!r} not found")
            model_id, number, now = allocated.model_id, allocated.version, allocated.now
            self.access.require(conn, caller, model_id, new.name, Role.WRITER, "creating a version")
            if allocated.replay_id is not None:
                # Leaving the block rolls the counter bump back.
                raise _Replay(allocated.replay_id)
            lineage = new.lineage
            parent_id = None
            if parent is not None:
                parent_version = self.resolve_in(conn, parent, "lineage.parent_model_uri")
                self.access.require_read(conn, caller, parent_version.model_id, parent_version.name)
                parent_id = versions.id_of(conn, parent_version)
                lineage = replace(
                    lineage,
                    parent_model_uri=uris.exact(parent_version.name, parent_version.version),
                )
            status = (
                VersionStatus.PENDING_REGISTRATION if new.registry_held else VersionStatus.READY
            )
            version_id = versions.insert(
                conn,
                model_id=model_id,
                version=number,
                now=now,
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
            events.record(
                conn,
                model_id=model_id,
                model_name=new.name,
                version=number,
                kind="version_created",
                actor=caller.principal,
                now=now,
                after={
                    "version": number,
                    "source": new.source,
                    "run_id": lineage.run_id,
                    "status": status.value,
                    "tags": new.tags,
                    "parent_model_uri": lineage.parent_model_uri,
                },
            )
            return version_id

    def _insert_version_in_one_statement(self, new: NewModelVersion, caller: Caller) -> int:
        """`_insert_version` for the common case, without a transaction around
        the model's lock (see store/new_version.py): no parent to resolve, no
        data sets, and a caller whose role needs no per-model grant."""
        with self.db.statement() as conn:
            created = new_version.create(
                conn,
                name=new.name,
                now=now_ms(),
                source=new.source,
                description=new.description,
                status=VersionStatus.PENDING_REGISTRATION
                if new.registry_held
                else VersionStatus.READY,
                artifacts_held=new.registry_held,
                created_by=caller.principal,
                lineage=new.lineage,
                idempotency_key=new.idempotency_key or None,
                tags=new.tags,
            )
        if created is None:
            raise NotFound(f"registered model {new.name!r} not found")
        version_id, replay = created
        if replay:
            raise _Replay(version_id)
        return version_id

    def get_model_version(self, name: str, version: int, caller: Caller) -> ModelVersion:
        validation.model_name(name)
        validation.version_number(version)
        with self.db.read() as conn:
            found = self.version_in(conn, name, version)
            self.access.require_read(conn, caller, found.model_id, name)
            return found

    @staticmethod
    def version_in(conn: Connection, name: str, version: int) -> ModelVersion:
        found = versions.get(conn, name, version)
        if found is None:
            models.require(conn, name)
            raise NotFound(f"{version_label(name, version)} not found")
        return found

    def lock_version(
        self, conn: Connection, name: str, version: int
    ) -> tuple[versions.ModelRef, versions.VersionRow]:
        """Take the model's lock and find the version (one round trip)."""
        found = versions.lock_and_locate(conn, name, version)
        if found is None:
            raise NotFound(f"registered model {name!r} not found")
        model, row = found
        if row is None:
            raise NotFound(f"{version_label(name, version)} not found")
        return model, row

    def lock_full_version(
        self, conn: Connection, name: str, version: int
    ) -> versions.LockedVersion:
        """Take the model's lock and read the version in full (one round trip),
        for mutations that answer with the version."""
        found = versions.lock_and_get(conn, name, version)
        if found is None:
            models.require(conn, name)
            raise NotFound(f"{version_label(name, version)} not found")
        return found

    def update_model_version(
        self, name: str, version: int, description: str, caller: Caller
    ) -> ModelVersion:
        validation.model_name(name)
        validation.version_number(version)
        validation.description(description)
        with self.db.write() as conn:
            model, row = self.lock_version(conn, name, version)
            now = now_ms()
            self.access.require(conn, caller, model.id, name, Role.WRITER, "updating a version")
            versions.set_description(conn, row.id, description, now)
            events.record(
                conn,
                model_id=model.id,
                model_name=name,
                version=version,
                kind="version_updated",
                actor=caller.principal,
                now=now,
                before={"description": row.description},
                after={"description": description},
            )
            updated = versions.get_by_id(conn, row.id)
            assert updated is not None
            return updated

    def delete_model_version(self, name: str, version: int, caller: Caller) -> None:
        validation.model_name(name)
        validation.version_number(version)
        with self.db.write() as conn:
            model, row = self.lock_version(conn, name, version)
            now = now_ms()
            self.access.require(conn, caller, model.id, name, Role.ADMIN, "deleting a version")
            for alias in aliases.remove_for_version(conn, row.id):
                events.record(
                    conn,
                    model_id=model.id,
                    model_name=name,
                    version=version,
                    kind="alias_deleted",
                    actor=caller.principal,
                    now=now,
                    before={"alias": alias, "version": version},
                    after={"reason": "version deleted"},
                )
            versions.remove(conn, row.id)
            models.touch(conn, model.id, now)
            events.record(
                conn,
                model_id=model.id,
                model_name=name,
                version=version,
                kind="version_deleted",
                actor=caller.principal,
                now=now,
                before={"version": version, "stage": row.stage, "status": row.status},
            )
        if row.artifacts_held:
            self.delete_version_objects(model.id, version)

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
        with self.db.write() as conn:
            model_id, version_id, found = self.lock_full_version(conn, name, version)
            now = now_ms()
            self.access.require_stage_change(
                conn,
                caller,
                model_id,
                name,
                # Archiving the stage's other holders moves them into Archived.
                [
                    found.stage,
                    target,
                    *([Stage.ARCHIVED] if archive_existing_versions else []),
                ],
                "transitioning a version",
            )
            if target in PROMOTION_STAGES and found.status is not VersionStatus.READY:
                raise FailedPrecondition(
                    f"{version_label(name, version)} is {found.status.value}; only READY "
                    f"versions can move to {target.value}"
                )
            changes: list[dict[str, Any]] = []
            if found.stage is not target:
                versions.set_stage(conn, version_id, target, now)
                changes.append(
                    events.row(
                        model_id=model_id,
                        model_name=name,
                        version=version,
                        kind="version_stage_changed",
                        actor=caller.principal,
                        now=now,
                        before={"stage": found.stage.value},
                        after={"stage": target.value},
                    )
                )
                found = replace(found, stage=target, last_updated_timestamp=now)
            if archive_existing_versions:
                for archived in versions.archive_stage_holders(
                    conn, model_id, target, version_id, now
                ):
                    changes.append(
                        events.row(
                            model_id=model_id,
                            model_name=name,
                            version=archived,
                            kind="version_stage_changed",
                            actor=caller.principal,
                            now=now,
                            before={"stage": target.value},
                            after={
                                "stage": Stage.ARCHIVED.value,
                                "reason": f"version {version} moved to {target.value}",
                            },
                        )
                    )
            events.insert(conn, changes)
            models.touch(conn, model_id, now)
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
        with self.db.write() as conn:
            model, row = self.lock_version(conn, name, version)
            now = now_ms()
            self.access.require(conn, caller, model.id, name, Role.WRITER, "setting a version tag")
            old = versions.get_tag(conn, row.id, key)
            versions.set_tag(conn, row.id, key, value)
            versions.touch(conn, row.id, now)
            events.record(
                conn,
                model_id=model.id,
                model_name=name,
                version=version,
                kind="version_tag_set",
                actor=caller.principal,
                now=now,
                before={} if old is None else {"key": key, "value": old},
                after={"key": key, "value": value},
            )

    def delete_model_version_tag(self, name: str, version: int, key: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.version_number(version)
        validation.tag_key(key)
        with self.db.write() as conn:
            model, row = self.lock_version(conn, name, version)
            now = now_ms()
            self.access.require(conn, caller, model.id, name, Role.WRITER, "deleting a version tag")
            old = versions.get_tag(conn, row.id, key)
            if old is None:
                raise NotFound(f"key: {version_label(name, version)} has no tag {key!r}")
            versions.delete_tag(conn, row.id, key)
            versions.touch(conn, row.id, now)
            events.record(
                conn,
                model_id=model.id,
                model_name=name,
                version=version,
                kind="version_tag_deleted",
                actor=caller.principal,
                now=now,
                before={"key": key, "value": old},
            )

    # ----------------------------------------------------------------- aliases

    def set_registered_model_alias(
        self, name: str, alias: str, version: int, expected_version: int | None, caller: Caller
    ) -> AliasMove:
        validation.model_name(name)
        validation.alias(alias)
        validation.version_number(version)
        if expected_version is not None and expected_version < 0:
            raise InvalidArgument(
                "expected_version must be 0 (alias must not exist) or a version number"
            )
        with self.db.write() as conn:
            model_id, version_id, found = self.lock_full_version(conn, name, version)
            now = now_ms()
            self.access.require_alias_change(
                conn, caller, model_id, name, alias, "setting an alias"
            )
            if found.status is not VersionStatus.READY:
                raise FailedPrecondition(
                    f"{version_label(name, version)} is {found.status.value}; "
                    "only READY versions can carry aliases"
                )
            current = aliases.current_version(conn, model_id, alias)
            if expected_version is not None and (current or 0) != expected_version:
                now_at = f"points at version {current}" if current else "does not exist"
                wanted = (
                    "not to exist"
                    if expected_version == 0
                    else f"to point at version {expected_version}"
                )
                raise FailedPrecondition(
                    f"expected_version: alias {alias!r} of {name!r} {now_at}, expected it "
                    f"{wanted}; nothing changed"
                )
            if current != version:
                aliases.point(conn, model_id, alias, version_id)
                models.touch(conn, model_id, now)
                events.record(
                    conn,
                    model_id=model_id,
                    model_name=name,
                    version=version,
                    kind="alias_set",
                    actor=caller.principal,
                    now=now,
                    before={} if current is None else {"alias": alias, "version": current},
                    after={"alias": alias, "version": version},
                )
            # Read in full under the lock; only its alias list changed since.
            moved = replace(found, aliases=tuple(sorted({*found.aliases, alias})))
            return AliasMove(moved, previous_version=current)

    def delete_registered_model_alias(self, name: str, alias: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.alias(alias)
        with self.db.write() as conn:
            model = models.lock(conn, name)
            now = now_ms()
            self.access.require_alias_change(
                conn, caller, model.id, name, alias, "deleting an alias"
            )
            current = aliases.current_version(conn, model.id, alias)
            if current is None:
                raise NotFound(f"alias: registered model {name!r} has no alias {alias!r}")
            aliases.remove(conn, model.id, alias)
            models.touch(conn, model.id, now)
            events.record(
                conn,
                model_id=model.id,
                model_name=name,
                version=current,
                kind="alias_deleted",
                actor=caller.principal,
                now=now,
                before={"alias": alias, "version": current},
            )

    def get_model_version_by_alias(self, name: str, alias: str, caller: Caller) -> ModelVersion:
        validation.model_name(name)
        validation.alias(alias)
        with self.db.read() as conn:
            found = versions.get_by_alias(conn, name, alias)
            if found is None:
                models.require(conn, name)
                raise NotFound(f"alias: registered model {name!r} has no alias {alias!r}")
            self.access.require_read(conn, caller, found.model_id, name)
            return found

    # -------------------------------------------------------------------- URIs

    def resolve_model_uri(self, uri: str, caller: Caller) -> tuple[ModelVersion, str]:
        parsed = uris.parse(uri)
        with self.db.read() as conn:
            found = self.resolve_in(conn, parsed, "uri")
            self.access.require_read(conn, caller, found.model_id, found.name)
            return found, parsed.path

    def resolve_in(self, conn: Connection, parsed: uris.ModelUri, field: str) -> ModelVersion:
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
