"""Registered models: create, read, describe, rename, delete, tag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from registry_server.artifacts.base import model_prefix
from registry_server.domain import validation
from registry_server.domain._aggregate import Aggregate
from registry_server.domain.access import Caller, Role
from registry_server.domain.entities import STAGE_ORDER, ModelVersion, RegisteredModel
from registry_server.domain.errors import NotFound
from registry_server.domain.events import EventKind
from registry_server.store import access as access_store
from registry_server.store import aliases, models, new_model, versions


def load_model(conn: Connection, name: str) -> RegisteredModel:
    """The model in full, as GetRegisteredModel and model mutations answer."""
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


class Models(Aggregate):
    def create_registered_model(
        self, name: str, description: str, tags: dict[str, str], caller: Caller
    ) -> RegisteredModel:
        validation.model_name(name)
        validation.description(description)
        validation.tag_mapping(tags)
        self.access.require_global(
            caller, Role.WRITER, "creating a registered model", model_name=name
        )
        after: dict[str, Any] = {"name": name, "description": description, "tags": tags}
        if self.db.dialect == "postgresql":
            return self._create_model_in_one_statement(name, description, tags, after, caller)
        with self.changes.unlocked(caller.principal, model_name=name) as change:
            change.model_id = models.insert(
                change.conn,
                name=name,
                description=description,
                created_by=caller.principal,
                now=change.now,
            )
            for key, value in tags.items():
                models.set_tag(change.conn, change.model_id, key, value)
            change.record(EventKind.MODEL_CREATED, after=after)
            return load_model(change.conn, name)

    def _create_model_in_one_statement(
        self,
        name: str,
        description: str,
        tags: dict[str, str],
        after: dict[str, Any],
        caller: Caller,
    ) -> RegisteredModel:
        """The creation as one statement (store/new_model.py), answered with
        what it wrote: a new model has nothing else to read back."""
        now = self.changes.clock()
        with self.db.statement() as conn:
            model_id = new_model.create(
                conn,
                name=name,
                description=description,
                created_by=caller.principal,
                now=now,
                tags=tags,
                event_after=after,
            )
        return RegisteredModel(
            id=model_id,
            name=name,
            description=description,
            creation_timestamp=now,
            last_updated_timestamp=now,
            last_version=0,
            created_by=caller.principal,
            tags=dict(sorted(tags.items())),
        )

    def get_registered_model(self, name: str, caller: Caller) -> RegisteredModel:
        validation.model_name(name)
        with self.db.read() as conn:
            model = load_model(conn, name)
            self.access.require_read(conn, caller, model.id, name)
            return model

    def update_registered_model(
        self, name: str, description: str, caller: Caller
    ) -> RegisteredModel:
        validation.model_name(name)
        validation.description(description)
        with self.changes.model(name, caller, (Role.WRITER, "updating the description")) as change:
            models.set_description(change.conn, change.model_id, description, change.now)
            change.record(
                EventKind.MODEL_UPDATED,
                before={"description": change.locked.description},
                after={"description": description},
            )
            return load_model(change.conn, name)

    def rename_registered_model(self, name: str, new_name: str, caller: Caller) -> RegisteredModel:
        validation.model_name(name)
        validation.model_name(new_name, "new_name")
        with self.changes.model(name, caller, (Role.ADMIN, "renaming")) as change:
            if new_name != name:
                models.rename(change.conn, change.model_id, new_name, change.now)
                change.record(
                    EventKind.MODEL_RENAMED,
                    model_name=new_name,
                    before={"name": name},
                    after={"name": new_name},
                )
            return load_model(change.conn, new_name)

    def delete_registered_model(self, name: str, caller: Caller) -> None:
        validation.model_name(name)
        with self.changes.model(name, caller, (Role.ADMIN, "deleting")) as change:
            before = {
                "name": name,
                "last_version": change.locked.last_version,
                "aliases": aliases.of_model(change.conn, change.model_id),
            }
            models.remove(change.conn, change.model_id)
            change.record(EventKind.MODEL_DELETED, before=before)
        self._delete_objects(model_prefix(change.model_id))

    def set_registered_model_tag(self, name: str, key: str, value: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.tag_key(key)
        validation.tag_value(value)
        with self.changes.model(name, caller, (Role.WRITER, "setting a tag")) as change:
            existing = models.tags(change.conn, change.model_id)
            validation.tag_fits(existing, key, value, f"registered model {name!r}")
            old = existing.get(key)
            models.set_tag(change.conn, change.model_id, key, value)
            change.touch_model()
            change.record(
                EventKind.MODEL_TAG_SET,
                before={} if old is None else {"key": key, "value": old},
                after={"key": key, "value": value},
            )

    def delete_registered_model_tag(self, name: str, key: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.tag_key(key)
        with self.changes.model(name, caller, (Role.WRITER, "deleting a tag")) as change:
            old = models.get_tag(change.conn, change.model_id, key)
            if old is None:
                raise NotFound(f"key: registered model {name!r} has no tag {key!r}")
            models.delete_tag(change.conn, change.model_id, key)
            change.touch_model()
            change.record(EventKind.MODEL_TAG_DELETED, before={"key": key, "value": old})

    def get_latest_versions(
        self, name: str, stages: Sequence[str], caller: Caller
    ) -> list[ModelVersion]:
        validation.model_name(name)
        wanted = [validation.stage(s, f"stages[{i}]") for i, s in enumerate(stages)]
        with self.db.read() as conn:
            row = models.require(conn, name)
            self.access.require_read(conn, caller, row.id, name)
            return versions.latest_per_stage(conn, row.id, wanted or STAGE_ORDER)
