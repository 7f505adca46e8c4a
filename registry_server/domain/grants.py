"""Per-model grants and protected aliases/stages: the admin side of access
control (the decisions are in `access`)."""

from __future__ import annotations

from registry_server.domain import validation
from registry_server.domain._change import UnitOfWork
from registry_server.domain.access import AccessControl, Caller, Role
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.entities import Stage
from registry_server.domain.errors import InvalidArgument, NotFound
from registry_server.domain.events import EventKind
from registry_server.domain.tokens import principal_name
from registry_server.store import access as store
from registry_server.store import models
from registry_server.store.database import Database

MAX_PROTECTED_ALIASES = 100


class GrantService:
    def __init__(
        self, db: Database, access: AccessControl | None = None, *, clock: Clock = now_ms
    ) -> None:
        self.db = db
        self.access = access or AccessControl(db, clock=clock)
        self.changes = UnitOfWork(db, self.access, clock)

    def set_protection(
        self, name: str, aliases: list[str], stages: list[str], caller: Caller
    ) -> None:
        validation.model_name(name)
        if len(aliases) > MAX_PROTECTED_ALIASES:
            raise InvalidArgument(
                f"protected_aliases: at most {MAX_PROTECTED_ALIASES}, got {len(aliases)}"
            )
        alias_set = sorted(
            {validation.alias(a, f"protected_aliases[{i}]") for i, a in enumerate(aliases)}
        )
        stage_set: set[Stage] = set()
        for i, value in enumerate(stages):
            stage = validation.stage(value, f"protected_stages[{i}]")
            if stage is Stage.NONE:
                raise InvalidArgument(f"protected_stages[{i}]: stage None cannot be protected")
            stage_set.add(stage)
        stage_names = [s.value for s in Stage if s in stage_set]
        changing = (Role.ADMIN, "changing protections")
        with self.changes.model(name, caller, changing) as change:
            before_aliases, before_stages = store.protections(change.conn, change.model_id)
            if (before_aliases, before_stages) == (alias_set, stage_names):
                return
            store.replace_protections(change.conn, change.model_id, alias_set, stage_names)
            change.touch_model()
            change.record(
                EventKind.PROTECTION_CHANGED,
                before={"protected_aliases": before_aliases, "protected_stages": before_stages},
                after={"protected_aliases": alias_set, "protected_stages": stage_names},
            )

    def set_grant(self, name: str, principal: str, role: Role, caller: Caller) -> None:
        validation.model_name(name)  # before the refusal records it
        self.access.require_global(caller, Role.ADMIN, "granting a role", model_name=name)
        principal_name(principal)
        if role < Role.READER:
            raise InvalidArgument("role: a grant must be reader, writer or admin")
        # A global admin (checked above) needs no query to be allowed here.
        with self.changes.model(name, caller, (Role.ADMIN, "granting a role")) as change:
            old = store.grant_role(change.conn, change.model_id, principal)
            store.set_grant(change.conn, change.model_id, principal, role.label)
            change.record(
                EventKind.GRANT_SET,
                before={} if old is None else {"principal": principal, "role": old},
                after={"principal": principal, "role": role.label},
            )

    def delete_grant(self, name: str, principal: str, caller: Caller) -> None:
        validation.model_name(name)  # before the refusal records it
        self.access.require_global(caller, Role.ADMIN, "removing a grant", model_name=name)
        principal_name(principal)
        with self.changes.model(name, caller, (Role.ADMIN, "removing a grant")) as change:
            old = store.grant_role(change.conn, change.model_id, principal)
            if old is None:
                raise NotFound(f"principal: {principal!r} has no grant on {name!r}")
            store.delete_grant(change.conn, change.model_id, principal)
            change.record(EventKind.GRANT_DELETED, before={"principal": principal, "role": old})

    def list_grants(self, name: str, caller: Caller) -> list[tuple[str, Role]]:
        validation.model_name(name)
        with self.db.read() as conn:
            row = models.require(conn, name)
            self.access.require(
                conn, caller, row.id, name, Role.ADMIN, "listing grants", mutation=False
            )
            return [(p, Role.parse(r)) for p, r in store.grants_of_model(conn, row.id)]

    def protections(self, model_id: int) -> tuple[list[str], list[str]]:
        with self.db.read() as conn:
            return store.protections(conn, model_id)
