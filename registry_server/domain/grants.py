"""Per-model grants and protected aliases/stages: the admin side of access
control (the decisions are in `access`)."""

from __future__ import annotations

from registry_server.domain import validation
from registry_server.domain.access import AccessControl, Caller, Role
from registry_server.domain.clock import now_ms
from registry_server.domain.entities import Stage
from registry_server.domain.errors import InvalidArgument, NotFound
from registry_server.domain.tokens import principal_name
from registry_server.store import access as store
from registry_server.store import events, models
from registry_server.store.database import Database

MAX_PROTECTED_ALIASES = 100


class GrantService:
    def __init__(self, db: Database, access: AccessControl | None = None) -> None:
        self.db = db
        self.access = access or AccessControl(db)

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
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            self.access.require(conn, caller, row.id, name, Role.ADMIN, "changing protections")
            before_aliases, before_stages = store.protections(conn, row.id)
            if (before_aliases, before_stages) == (alias_set, stage_names):
                return
            store.replace_protections(conn, row.id, alias_set, stage_names)
            models.touch(conn, row.id, now)
            events.record(
                conn,
                model_id=row.id,
                model_name=name,
                kind="protection_changed",
                actor=caller.principal,
                now=now,
                before={"protected_aliases": before_aliases, "protected_stages": before_stages},
                after={"protected_aliases": alias_set, "protected_stages": stage_names},
            )

    def set_grant(self, name: str, principal: str, role: Role, caller: Caller) -> None:
        self.access.require_global(caller, Role.ADMIN, "granting a role")
        validation.model_name(name)
        principal_name(principal)
        if role < Role.READER:
            raise InvalidArgument("role: a grant must be reader, writer or admin")
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            old = store.grant_role(conn, row.id, principal)
            store.set_grant(conn, row.id, principal, role.label)
            events.record(
                conn,
                model_id=row.id,
                model_name=name,
                kind="grant_set",
                actor=caller.principal,
                now=now,
                before={} if old is None else {"principal": principal, "role": old},
                after={"principal": principal, "role": role.label},
            )

    def delete_grant(self, name: str, principal: str, caller: Caller) -> None:
        self.access.require_global(caller, Role.ADMIN, "removing a grant")
        validation.model_name(name)
        principal_name(principal)
        with self.db.write() as conn:
            row = models.lock(conn, name)
            now = now_ms()
            old = store.grant_role(conn, row.id, principal)
            if old is None:
                raise NotFound(f"principal: {principal!r} has no grant on {name!r}")
            store.delete_grant(conn, row.id, principal)
            events.record(
                conn,
                model_id=row.id,
                model_name=name,
                kind="grant_deleted",
                actor=caller.principal,
                now=now,
                before={"principal": principal, "role": old},
            )

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
