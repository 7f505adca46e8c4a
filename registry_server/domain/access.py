"""Who may do what: roles, per-model grants, protected aliases and stages.

Each domain operation states the role it needs on the model it touches and
asks `AccessControl` inside its own transaction (after taking the model's
lock for mutations), so a decision and the change it allows see the same
grants and protections. A caller whose global role is high enough costs no
query at all, which keeps the hot read paths (resolve, get by alias) as
cheap with authentication as without.

Denials of mutations are recorded in the model's history by the API layer
after the refused transaction has rolled back (`record_denial`), so a refused
call still changes nothing else.

No existence leaks: a caller who may not read a model gets exactly the answer
a model that does not exist gets (`HiddenModel`, a NOT_FOUND with the same
message), for reads and writes alike, and before anything inside the model
(a version, an alias, a stage's holder) is looked at or reported. Only callers
who may read it learn that a write needs more (PERMISSION_DENIED).
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection

from registry_server.domain._change import UnitOfWork
from registry_server.domain.clock import Clock, now_ms
from registry_server.domain.entities import Stage
from registry_server.domain.errors import InvalidArgument, NotFound, PermissionDenied
from registry_server.domain.events import EventKind
from registry_server.store import access as store
from registry_server.store import models as model_rows
from registry_server.store.database import Database


class Role(enum.IntEnum):
    """Ordered: each role includes everything the lower ones may do."""

    NONE = 1
    READER = 2
    WRITER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str, field: str = "role") -> Role:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise InvalidArgument(
                f"{field}: unknown role {value!r}; expected none, reader, writer or admin"
            ) from None


ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity a call runs as.

    `authenticated` is False when the server runs without authentication:
    then every caller is an admin and `principal` is the self-declared actor.
    """

    principal: str
    role: Role
    authenticated: bool = True
    token_id: int | None = None

    @classmethod
    def unauthenticated(cls, actor: str = ANONYMOUS) -> Caller:
        return cls(principal=actor or ANONYMOUS, role=Role.ADMIN, authenticated=False)


class AccessDenied(PermissionDenied):
    """A refused operation, with what the history needs to record it."""

    def __init__(
        self,
        message: str,
        *,
        caller: Caller,
        action: str,
        needed: Role,
        model_id: int = 0,
        model_name: str = "",
        mutation: bool = True,
    ) -> None:
        super().__init__(message)
        self.caller = caller
        self.action = action
        self.needed = needed
        self.model_id = model_id
        self.model_name = model_name
        self.mutation = mutation


def model_not_found(name: str, field: str = "") -> NotFound:
    """The answer for a model that does not exist (store.models.require's),
    with the request field it came from when that is not `name`."""
    prefix = f"{field}: " if field else ""
    return NotFound(f"{prefix}registered model {name!r} not found")


class HiddenModel(NotFound):
    """A refusal on a model the caller may not read: to the caller, exactly
    the NOT_FOUND a missing model gets; to the history (for a refused
    mutation), the denial it was."""

    def __init__(self, missing: NotFound, denial: AccessDenied) -> None:
        super().__init__(missing.message)
        self.denial = denial


# Refusals recorded per principal and model: at most one per window.
DENIAL_WINDOW_MS = 60_000
# Principal-and-model pairs remembered; past this, those whose window has
# ended are forgotten (with the count of refusals they suppressed).
DENIAL_KEYS = 10_000


class DenialLimiter:
    """At most one `access_denied` event per principal and model per minute,
    so a token cannot flood a model's history (one it may not even read).

    The next recorded refusal says how many were left out since the last one
    (`suppressed`). Kept in memory: per server process, so N replicas or
    processes record at most N a minute."""

    def __init__(self, window_ms: int = DENIAL_WINDOW_MS, max_keys: int = DENIAL_KEYS) -> None:
        self.window_ms = window_ms
        self.max_keys = max_keys
        self._lock = threading.Lock()
        # key -> [time of the last recorded refusal, refusals left out since],
        # oldest recorded first: beyond max_keys the oldest go, one at a time,
        # so memory stays bounded and no call rebuilds the whole table.
        self._seen: OrderedDict[tuple[str, int, str], list[int]] = OrderedDict()

    def admit(self, key: tuple[str, int, str], now: int) -> int | None:
        """None: leave this refusal out (counted); otherwise record it, with
        the number left out since the last recorded one."""
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.window_ms:
                entry[1] += 1
                return None
            suppressed = entry[1] if entry is not None else 0
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
            return suppressed


class AccessControl:
    def __init__(self, db: Database, *, clock: Clock = now_ms) -> None:
        self.db = db
        # The time a refused call is recorded at.
        self.clock = clock
        self.denials = DenialLimiter()

    # ------------------------------------------------------------ decisions

    @staticmethod
    def global_role_allows(caller: Caller, needed: Role) -> bool:
        """Whether the caller's global role alone allows `needed` on every
        model: then no grant or protection can matter and the decision needs
        no query (nor a transaction: see Registry's one-statement create)."""
        return caller.role >= needed

    def role_on(self, conn: Connection, caller: Caller, model_id: int) -> Role:
        """The caller's effective role on one model: global role raised by a
        grant (a deleted model's grants are gone, and its id is never reused,
        so a deleted model's history opens to global readers only)."""
        if caller.role is Role.ADMIN:
            return caller.role
        granted = store.grant_role(conn, model_id, caller.principal)
        if granted is None:
            return caller.role
        return max(caller.role, Role.parse(granted))

    def require(
        self,
        conn: Connection,
        caller: Caller,
        model_id: int,
        model_name: str,
        needed: Role,
        action: str,
        *,
        mutation: bool = True,
        missing: NotFound | None = None,
    ) -> None:
        """Refuse unless the caller has `needed` on the model: PERMISSION_DENIED
        to a caller who may read it, else `missing` (default: the model's
        plain NOT_FOUND), the answer for a model that does not exist."""
        if self.global_role_allows(caller, needed):
            return
        have = self.role_on(conn, caller, model_id)
        if have >= needed:
            return
        denied = AccessDenied(
            f"{action} on registered model {model_name!r} needs role {needed.label}; "
            f"{caller.principal!r} has {have.label}",
            caller=caller,
            action=action,
            needed=needed,
            model_id=model_id,
            model_name=model_name,
            mutation=mutation,
        )
        if have < Role.READER:
            raise HiddenModel(missing or model_not_found(model_name), denied)
        raise denied

    def require_read(
        self,
        conn: Connection,
        caller: Caller,
        model_id: int,
        name: str,
        missing: NotFound | None = None,
    ) -> None:
        """A model the caller may not read answers as `missing` (default: the
        plain NOT_FOUND of a model that does not exist)."""
        self.require(
            conn, caller, model_id, name, Role.READER, "reading", mutation=False, missing=missing
        )

    def require_global(
        self,
        caller: Caller,
        needed: Role,
        action: str,
        *,
        mutation: bool = True,
        model_name: str = "",
    ) -> None:
        """`model_name`: the model the refused call was for, recorded with the
        refusal (which stays out of that model's own history: model id 0)."""
        if caller.role >= needed:
            return
        raise AccessDenied(
            f"{action} needs the global role {needed.label}; "
            f"{caller.principal!r} has {caller.role.label}",
            caller=caller,
            action=action,
            needed=needed,
            model_name=model_name,
            mutation=mutation,
        )

    def require_alias_change(
        self,
        conn: Connection,
        caller: Caller,
        model_id: int,
        model_name: str,
        alias: str,
        action: str,
    ) -> None:
        """Writers move aliases; a protected alias needs an admin of the model."""
        self.require(conn, caller, model_id, model_name, Role.WRITER, action)
        if caller.role is Role.ADMIN:
            return
        if store.is_protected(conn, model_id, "alias", [alias]):
            self.require(
                conn, caller, model_id, model_name, Role.ADMIN, f"{action} (protected alias)"
            )

    def require_stage_change(
        self,
        conn: Connection,
        caller: Caller,
        model_id: int,
        model_name: str,
        stages: list[Stage],
        action: str,
    ) -> None:
        """Writers transition versions; moving one into or out of a protected
        stage (which also archives that stage's holders) needs an admin."""
        self.require(conn, caller, model_id, model_name, Role.WRITER, action)
        if caller.role is Role.ADMIN:
            return
        protected = store.is_protected(conn, model_id, "stage", [s.value for s in stages])
        if protected:
            self.require(
                conn,
                caller,
                model_id,
                model_name,
                Role.ADMIN,
                f"{action} (protected stage {', '.join(protected)})",
            )

    def read_restriction(
        self, caller: Caller, model_id: ColumnElement[int] | None = None
    ) -> ColumnElement[bool] | None:
        """None when the caller may read every model; otherwise the SQL
        condition selecting the models its grants let it read."""
        if caller.role >= Role.READER:
            return None
        roles = tuple(r.label for r in Role if r >= Role.READER)
        return store.readable_by(caller.principal, roles, model_id)

    def hidden_models(self, caller: Caller, names: Iterable[str]) -> frozenset[str]:
        """Of these model names, those the caller may not read, or that name
        no model now: a lineage link into one is shown without its name.
        No query for a caller whose global role reads everything."""
        wanted = set(names)
        if caller.role >= Role.READER or not wanted:
            return frozenset()
        hidden = set()
        with self.db.read() as conn:
            for name in wanted:
                row = model_rows.get(conn, name)
                if row is None or self.role_on(conn, caller, row.id) < Role.READER:
                    hidden.add(name)
        return frozenset(hidden)

    def event_restriction(self, caller: Caller) -> ColumnElement[bool] | None:
        """None for a global admin; otherwise the SQL condition leaving out
        of the history the events the caller may not list elsewhere: token
        events (ListAccessTokens is global admin only) and grant events of
        models it is not an admin of (ListModelGrants)."""
        if caller.role is Role.ADMIN:
            return None
        return store.events_shown_to(caller.principal, (Role.ADMIN.label,))

    def can_read(self, conn: Connection, caller: Caller, model_id: int) -> bool:
        return caller.role >= Role.READER or self.role_on(conn, caller, model_id) >= Role.READER

    # ------------------------------------------------------------ history

    def record_denial(self, denied: AccessDenied) -> None:
        """Write the refused mutation into the history, in its own transaction
        (the refused one has rolled back); at most one a minute per principal
        and model (DenialLimiter), the next one counting those left out."""
        if not denied.mutation:
            return
        # Refusals of what needs a global role (model id 0) share one key per
        # principal, whatever name they were for.
        model = denied.model_name if denied.model_id else ""
        key = (denied.caller.principal, denied.model_id, model)
        suppressed = self.denials.admit(key, self.clock())
        if suppressed is None:
            return
        after: dict[str, object] = {
            "action": denied.action,
            "needed": denied.needed.label,
            "role": denied.caller.role.label,
        }
        if suppressed:
            after["suppressed"] = suppressed
        changes = UnitOfWork(self.db, None, self.clock)
        with changes.unlocked(
            denied.caller.principal, denied.model_id, denied.model_name
        ) as change:
            change.record(EventKind.ACCESS_DENIED, after=after)
