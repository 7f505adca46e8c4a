"""Aliases: a model's named pointers to versions, moved atomically."""

from __future__ import annotations

from dataclasses import replace

from registry_server.domain import validation
from registry_server.domain._aggregate import Aggregate
from registry_server.domain._change import version_label
from registry_server.domain.access import Caller, Role
from registry_server.domain.entities import AliasMove, ModelVersion, VersionStatus
from registry_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from registry_server.domain.events import EventKind
from registry_server.store import alias_move, aliases, models, versions


def _no_alias(name: str, alias: str) -> NotFound:
    return NotFound(f"alias: registered model {name!r} has no alias {alias!r}")


class Aliases(Aggregate):
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
        if self.db.dialect == "postgresql" and self.access.global_role_allows(caller, Role.WRITER):
            fast = self._set_alias_in_one_round_trip(name, alias, version, expected_version, caller)
            if fast is not None:
                return fast
        with self.changes.full_version(
            name, version, caller, (Role.WRITER, "setting an alias")
        ) as change:
            change.authorise_alias_change(alias, "setting an alias")
            found = change.locked.version
            if found.status is not VersionStatus.READY:
                raise FailedPrecondition(
                    f"{version_label(name, version)} is {found.status.value}; "
                    "only READY versions can carry aliases"
                )
            current = aliases.current_version(change.conn, change.model_id, alias)
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
                aliases.point(change.conn, change.model_id, alias, change.locked.version_id)
                change.touch_model()
                change.record(
                    EventKind.ALIAS_SET,
                    version=version,
                    before={} if current is None else {"alias": alias, "version": current},
                    after={"alias": alias, "version": version},
                )
            # Read in full under the lock; only its alias list changed since.
            moved = replace(found, aliases=tuple(sorted({*found.aliases, alias})))
            return AliasMove(moved, previous_version=current)

    def _set_alias_in_one_round_trip(
        self, name: str, alias: str, version: int, expected_version: int | None, caller: Caller
    ) -> AliasMove | None:
        """The move for a caller whose global role lets it move any alias
        but perhaps a protected one (store/alias_move.py). None when the
        statement refused it: the transaction below then decides again and
        says why."""
        with self.db.statement() as conn:
            moved = alias_move.move(
                conn,
                name=name,
                alias=alias,
                version=version,
                expected_version=expected_version,
                now=self.changes.clock(),
                actor=caller.principal,
                admin=self.access.global_role_allows(caller, Role.ADMIN),
                timeouts=self.db.local_timeouts(),
            )
        if moved is None:
            return None
        return AliasMove(moved.version, previous_version=moved.previous)

    def delete_registered_model_alias(self, name: str, alias: str, caller: Caller) -> None:
        validation.model_name(name)
        validation.alias(alias)
        with self.changes.model(name, caller, None) as change:
            change.authorise_alias_change(alias, "deleting an alias")
            current = aliases.current_version(change.conn, change.model_id, alias)
            if current is None:
                raise _no_alias(name, alias)
            aliases.remove(change.conn, change.model_id, alias)
            change.touch_model()
            change.record(
                EventKind.ALIAS_DELETED,
                version=current,
                before={"alias": alias, "version": current},
            )

    def get_model_version_by_alias(self, name: str, alias: str, caller: Caller) -> ModelVersion:
        validation.model_name(name)
        validation.alias(alias)
        with self.db.read() as conn:
            found = versions.get_by_alias(conn, name, alias)
            if found is None:
                row = models.require(conn, name)
                self.access.require_read(conn, caller, row.id, name)
                raise _no_alias(name, alias)
            self.access.require_read(conn, caller, found.model_id, name)
            return found
